// Package compliance holds the nouns every other package shares: policies,
// controls, technologies, hosts, posture records and sync runs.
//
// It imports nothing from the rest of pcsync, so the Qualys client, the
// engine, the stores, the exporters and the emulator can all speak it.
package compliance

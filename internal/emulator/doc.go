// Package emulator is a Qualys Policy Compliance emulator: an http.Handler
// that speaks the gateway (POST /auth, the PCRS posture streaming API), the
// classic XML API (policy list and export, control list, posture info) and
// /msp/about.php the way Qualys documents them and Qualys's own clients
// expect, over a deterministic generated estate, with faults to inject. Its
// Replay serves a capture of a real run back instead (see package wire).
//
// Tests use it in-process, `pcsync emulate` serves it, and `pcsync demo`
// syncs from it. Nothing in pcsync's sync path imports this package.
//
// Where the documentation leaves a choice open, the emulator follows what
// Qualys's own clients expect: posture ids are numbers and host ids strings,
// a compressed body is raw gzip without Content-Encoding, an empty result is
// 204, and a bad 0/1 flag is a 404 with {"message":"Invalid input Parameter."}.
package emulator

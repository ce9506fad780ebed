// Package engine runs a sync: it plans the work (policies, host id groups,
// host batches), runs posture streams on a bounded set of workers under the
// client's shared rate budget, funnels every record to one store writer, and
// keeps the run ledger.
//
// Data flows one way, through bounded channels, so a slow database slows the
// download instead of filling memory: at most Concurrency streams are open,
// each holding one chunk of records, the writer queue holds a few chunks
// more, and the writer one transaction's records; chunks and transactions
// are bounded by their records' size (TxBytes) as well as their count, so
// records with large evidence do not raise the bound (see BENCHMARKS.md for
// the resulting memory).
package engine

package app

import (
	"pcsync/internal/engine"
	"pcsync/internal/store"
)

// checkShard refuses a sharded sync that cannot work: one into SQLite
// (which takes one writer: run one unsharded sync), or a rate share
// without a shard.
func checkShard(dsn string, shard engine.Shard, rate int) error {
	switch {
	case rate < 0:
		return usageErr("--shard-rate must be 1 or more, not %d", rate)
	case rate > 0 && shard.N == 0:
		return usageErr("--shard-rate needs --shard K/N")
	case shard.N == 0:
		return nil
	}
	if d, err := store.ParseDSN(dsn); err == nil && d.Driver != store.DriverPostgres {
		return usageErr("--shard %s: sharded syncs write one PostgreSQL database from several processes; "+
			"a SQLite database takes one writer, so run one sync without --shard", shard)
	}
	return nil
}

// shardRate is the PCRS calls per window one process may make: Qualys
// counts calls per subscription, so each of N shards takes 1/N of the
// budget (at least one call) unless --shard-rate says otherwise.
func shardRate(calls int, shard engine.Shard, override int) int {
	switch {
	case override > 0:
		return override
	case shard.N > 1 && calls > 0:
		return max(1, calls/shard.N)
	}
	return calls
}

-- pcsync schema: the shard of a sharded sync (K/N, pcsync sync --shard),
-- recorded with its run. Sharded syncs write PostgreSQL; a SQLite
-- database keeps the column so that every store has the same tables
-- (pcsync migrate copies it), and it is NULL here.
ALTER TABLE runs ADD COLUMN shard TEXT;

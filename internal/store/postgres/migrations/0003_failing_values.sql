-- pcsync PostgreSQL schema, version 3: each failing posture's value
-- (store.FailingValue of its cause of failure or evidence), written by the
-- sync, NULL when the posture is not failing, when the value is over
-- store.MaxFailValue bytes, and in rows written before this version or
-- copied in by pcsync migrate (the reader groups those from their
-- documents). The partial index of current failing postures carries it
-- with the host and the first failure date, so that the control page's
-- groups by value are read from the index instead of from one table row
-- (and two JSON documents) per failing posture. The column is private to
-- the store: the registry (store.Tables) leaves it out, so export and
-- migrate do not carry it, as SQLite's schema 8.
ALTER TABLE postures ADD COLUMN fail_value text;
DROP INDEX IF EXISTS postures_failing;
CREATE INDEX postures_failing ON postures (control_id, policy_id, host_id, first_fail_date, fail_value)
	WHERE status = 'Failed' AND stale_run IS NULL;

-- pcsync schema, version 8: what each failing posture found instead of the
-- expected value, for the control page's groups (BENCHMARKS.md, "The
-- server at 10M postures").

-- store.FailingValue of the posture's cause of failure or evidence, kept by
-- the sync for failing postures; NULL when the posture is not failing, the
-- value is longer than the index keeps, or no sync has written the row
-- since this migration (then the server reads the documents instead).
ALTER TABLE postures ADD COLUMN fail_value TEXT;

-- A control's current failing postures with what each found: read from
-- this index alone, which holds only them (status and stale_run, the same
-- in every entry, are there for SQLite to see that it needs nothing from
-- the table). Dropped for a first load and built after it (load.go).
CREATE INDEX postures_failing ON postures (control_id, policy_id, host_id, first_fail_date, fail_value, status, stale_run)
    WHERE status = 'Failed' AND stale_run IS NULL;

-- pcsync PostgreSQL schema, version 2: the posture indexes end with the
-- posture id, the last column of every posture list's order. Without it a
-- page's position, (policy, host, control, technology, instance, id) >
-- (...), cannot be an index condition, and a page deep in the list scanned
-- the table (10 s at 10M postures, against 1 ms with it). SQLite's indexes
-- carry the key at their end by themselves.
DROP INDEX IF EXISTS postures_natural;
DROP INDEX IF EXISTS postures_host;
DROP INDEX IF EXISTS postures_control;
CREATE INDEX postures_natural ON postures (policy_id, host_id, control_id, technology_id, instance, id);
CREATE INDEX postures_host ON postures (host_id, policy_id, control_id, technology_id, instance, id);
CREATE INDEX postures_control ON postures (control_id, policy_id, host_id, technology_id, instance, id);

-- A control's current failing postures (the control page's groups by
-- value): only they are fetched from the table, not every posture of the
-- control (5,158 rows fetched instead of 20,000 for a control at 10M).
CREATE INDEX postures_failing ON postures (control_id, policy_id) WHERE status = 'Failed' AND stale_run IS NULL;

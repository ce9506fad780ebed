-- pcsync schema, version 6: postures kept together by policy, and the
-- counts of schema 5 kept by the sync in Go rather than by triggers on
-- every insert (BENCHMARKS.md has the measurements behind both).

-- An exception names its posture by policy and id, the postures' key.
ALTER TABLE exceptions ADD COLUMN policy_id INTEGER;
UPDATE exceptions SET policy_id = (SELECT p.policy_id FROM postures p WHERE p.id = exceptions.posture_id);

-- Postures are clustered on (policy_id, id): a postureInfo answer is one
-- policy's, so its records land in one region of the table whatever order
-- they and their ids come in, and "the postures of policy P" is a range.
-- Every unique key includes policy_id (a distributed PostgreSQL shards by
-- it); a posture is identified by its policy and its Qualys id.
CREATE TABLE postures_v6 (
    policy_id             INTEGER NOT NULL,
    id                    INTEGER NOT NULL,
    host_id               INTEGER NOT NULL,
    control_id            INTEGER NOT NULL,
    technology_id         INTEGER NOT NULL,
    instance              TEXT NOT NULL,
    status                TEXT NOT NULL,
    previous_status       TEXT,
    first_fail_date       TEXT,
    last_fail_date        TEXT,
    first_pass_date       TEXT,
    last_pass_date        TEXT,
    posture_modified_date TEXT,
    last_evaluated_date   TEXT,
    created               TEXT,
    criticality_label     TEXT,
    criticality_value     INTEGER,
    evidence              TEXT,  -- JSON as received
    cause_of_failure      TEXT,  -- JSON as received
    extra                 TEXT,  -- JSON object of fields pcsync does not model
    first_run             INTEGER NOT NULL,
    last_run              INTEGER NOT NULL,
    stale_run             INTEGER,
    PRIMARY KEY (policy_id, id)
) WITHOUT ROWID;
INSERT INTO postures_v6 (policy_id, id, host_id, control_id, technology_id, instance, status, previous_status,
    first_fail_date, last_fail_date, first_pass_date, last_pass_date, posture_modified_date, last_evaluated_date,
    created, criticality_label, criticality_value, evidence, cause_of_failure, extra, first_run, last_run, stale_run)
SELECT policy_id, id, host_id, control_id, technology_id, instance, status, previous_status,
    first_fail_date, last_fail_date, first_pass_date, last_pass_date, posture_modified_date, last_evaluated_date,
    created, criticality_label, criticality_value, evidence, cause_of_failure, extra, first_run, last_run, stale_run
FROM postures ORDER BY policy_id, id;
DROP TABLE postures;
ALTER TABLE postures_v6 RENAME TO postures;

-- The indexes and triggers went with the old table. The indexes are
-- dropped for a first load and built after it (load.go): the natural key,
-- for "host H in policy P" (hosts leaving a policy), and the server's
-- access paths of schema 5.
CREATE INDEX postures_natural ON postures (policy_id, host_id, control_id, technology_id, instance);
CREATE INDEX postures_control ON postures (control_id, policy_id, host_id, technology_id, instance);

CREATE TRIGGER postures_status_history AFTER UPDATE OF status ON postures
WHEN old.status IS NOT new.status
BEGIN
    INSERT INTO history (posture_id, policy_id, host_id, control_id, old_status, new_status, changed_at, run_id)
    VALUES (new.id, new.policy_id, new.host_id, new.control_id, old.status, new.status, new.posture_modified_date, new.last_run);
END;
CREATE TRIGGER postures_stale_history AFTER UPDATE OF stale_run ON postures
WHEN (old.stale_run IS NULL) <> (new.stale_run IS NULL)
BEGIN
    INSERT INTO stale_history (posture_id, policy_id, host_id, control_id, status, stale, run_id)
    VALUES (new.id, new.policy_id, new.host_id, new.control_id, new.status, new.stale_run IS NOT NULL,
        coalesce(new.stale_run, new.last_run));
END;

-- The sync adds each posture it upserts to the counts of its policy, host,
-- control, technology and status (write.go); when the upsert replaced a
-- stored posture, this takes the one replaced out of its counts. Only the
-- upsert sets last_run; the stale marks move their postures in Go
-- (counts.go).
CREATE TRIGGER postures_counts_replaced AFTER UPDATE OF last_run ON postures
BEGIN
    INSERT INTO counts_host (policy_id, host_id, passed, failed, errors, stale)
    VALUES (old.policy_id, old.host_id, -(old.stale_run IS NULL AND old.status = 'Passed'),
        -(old.stale_run IS NULL AND old.status = 'Failed'), -(old.stale_run IS NULL AND old.status = 'Error'),
        -(old.stale_run IS NOT NULL))
    ON CONFLICT DO UPDATE SET passed = passed + excluded.passed, failed = failed + excluded.failed,
        errors = errors + excluded.errors, stale = stale + excluded.stale;
    INSERT INTO counts_control (policy_id, control_id, technology_id, passed, failed, errors, stale)
    VALUES (old.policy_id, old.control_id, old.technology_id, -(old.stale_run IS NULL AND old.status = 'Passed'),
        -(old.stale_run IS NULL AND old.status = 'Failed'), -(old.stale_run IS NULL AND old.status = 'Error'),
        -(old.stale_run IS NOT NULL))
    ON CONFLICT DO UPDATE SET passed = passed + excluded.passed, failed = failed + excluded.failed,
        errors = errors + excluded.errors, stale = stale + excluded.stale;
END;

CREATE TRIGGER postures_counts_delete AFTER DELETE ON postures
BEGIN
    UPDATE counts_host SET passed = passed - (old.stale_run IS NULL AND old.status = 'Passed'),
        failed = failed - (old.stale_run IS NULL AND old.status = 'Failed'), errors = errors - (old.stale_run IS NULL AND old.status = 'Error'),
        stale = stale - (old.stale_run IS NOT NULL)
    WHERE policy_id = old.policy_id AND host_id = old.host_id;
    UPDATE counts_control SET passed = passed - (old.stale_run IS NULL AND old.status = 'Passed'),
        failed = failed - (old.stale_run IS NULL AND old.status = 'Failed'), errors = errors - (old.stale_run IS NULL AND old.status = 'Error'),
        stale = stale - (old.stale_run IS NOT NULL)
    WHERE policy_id = old.policy_id AND control_id = old.control_id AND technology_id = old.technology_id;
END;

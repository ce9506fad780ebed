-- pcsync schema, version 5: postures kept together by policy, and the
-- per-policy counts of current postures that readers look up instead of
-- scanning postures (BENCHMARKS.md has the measurements behind both).

-- Postures are clustered on (policy_id, id): a postureInfo answer is one
-- policy's, so its records land in one region of the table whatever order
-- they and their ids come in, and "the postures of policy P" is a range.
-- Every unique key includes policy_id (a distributed PostgreSQL shards by
-- it); a posture is identified by its policy and its Qualys id.
CREATE TABLE postures_v5 (
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
INSERT INTO postures_v5 (policy_id, id, host_id, control_id, technology_id, instance, status, previous_status,
    first_fail_date, last_fail_date, first_pass_date, last_pass_date, posture_modified_date, last_evaluated_date,
    created, criticality_label, criticality_value, evidence, cause_of_failure, extra, first_run, last_run, stale_run)
SELECT policy_id, id, host_id, control_id, technology_id, instance, status, previous_status,
    first_fail_date, last_fail_date, first_pass_date, last_pass_date, posture_modified_date, last_evaluated_date,
    created, criticality_label, criticality_value, evidence, cause_of_failure, extra, first_run, last_run, stale_run
FROM postures ORDER BY policy_id, id;
DROP TABLE postures;
ALTER TABLE postures_v5 RENAME TO postures;

-- The natural key, for "host H in policy P" (host pages, hosts leaving a
-- policy); dropped for a first load and built after it (load.go).
CREATE INDEX postures_natural ON postures (policy_id, host_id, control_id, technology_id, instance);

-- The triggers went with the old table.
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

-- Current posture counts (current = postures.stale_run IS NULL); "stale"
-- counts stale postures of any status. The sync keeps them in the same
-- transactions as the postures, so they are exact at every commit; a
-- missing row means zeros, and rows of zeros may stay.
CREATE TABLE counts_host (
    policy_id INTEGER NOT NULL, host_id INTEGER NOT NULL,
    passed INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0, stale INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (policy_id, host_id)) WITHOUT ROWID;
CREATE INDEX counts_host_host ON counts_host (host_id);
CREATE TABLE counts_control (
    policy_id INTEGER NOT NULL, control_id INTEGER NOT NULL, technology_id INTEGER NOT NULL,
    passed INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0, stale INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (policy_id, control_id, technology_id)) WITHOUT ROWID;
CREATE INDEX counts_control_control ON counts_control (control_id);

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

INSERT INTO counts_host (policy_id, host_id, passed, failed, errors, stale)
SELECT policy_id, host_id, sum(stale_run IS NULL AND status = 'Passed'), sum(stale_run IS NULL AND status = 'Failed'),
    sum(stale_run IS NULL AND status = 'Error'), sum(stale_run IS NOT NULL)
FROM postures GROUP BY policy_id, host_id;
INSERT INTO counts_control (policy_id, control_id, technology_id, passed, failed, errors, stale)
SELECT policy_id, control_id, technology_id, sum(stale_run IS NULL AND status = 'Passed'),
    sum(stale_run IS NULL AND status = 'Failed'), sum(stale_run IS NULL AND status = 'Error'), sum(stale_run IS NOT NULL)
FROM postures GROUP BY policy_id, control_id, technology_id;

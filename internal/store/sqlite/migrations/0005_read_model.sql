-- pcsync schema, version 5: the read model of pcsync serve. Every figure of
-- the dashboard is an indexed lookup in these tables, kept by the sync in
-- the transactions that change the postures, so no request scans postures.

-- Current posture counts (current = stale_run IS NULL), per policy and host
-- and per policy, control and technology; stale counts stale postures.
CREATE TABLE counts_host (
    policy_id INTEGER NOT NULL,
    host_id   INTEGER NOT NULL,
    passed    INTEGER NOT NULL DEFAULT 0,
    failed    INTEGER NOT NULL DEFAULT 0,
    errors    INTEGER NOT NULL DEFAULT 0,
    stale     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (policy_id, host_id)
) WITHOUT ROWID;
CREATE INDEX counts_host_host ON counts_host (host_id);

CREATE TABLE counts_control (
    policy_id     INTEGER NOT NULL,
    control_id    INTEGER NOT NULL,
    technology_id INTEGER NOT NULL,
    passed        INTEGER NOT NULL DEFAULT 0,
    failed        INTEGER NOT NULL DEFAULT 0,
    errors        INTEGER NOT NULL DEFAULT 0,
    stale         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (policy_id, control_id, technology_id)
) WITHOUT ROWID;
CREATE INDEX counts_control_control ON counts_control (control_id);

INSERT INTO counts_host (policy_id, host_id, passed, failed, errors, stale)
    SELECT policy_id, host_id, sum(stale_run IS NULL AND status = 'Passed'), sum(stale_run IS NULL AND status = 'Failed'),
        sum(stale_run IS NULL AND status = 'Error'), sum(stale_run IS NOT NULL)
    FROM postures GROUP BY policy_id, host_id;
INSERT INTO counts_control (policy_id, control_id, technology_id, passed, failed, errors, stale)
    SELECT policy_id, control_id, technology_id, sum(stale_run IS NULL AND status = 'Passed'), sum(stale_run IS NULL AND status = 'Failed'),
        sum(stale_run IS NULL AND status = 'Error'), sum(stale_run IS NOT NULL)
    FROM postures GROUP BY policy_id, control_id, technology_id;

-- The counts follow every change of a posture's status, staleness or keys.
CREATE TRIGGER postures_counts_insert AFTER INSERT ON postures
BEGIN
    INSERT INTO counts_host (policy_id, host_id, passed, failed, errors, stale)
    VALUES (new.policy_id, new.host_id, new.stale_run IS NULL AND new.status = 'Passed', new.stale_run IS NULL AND new.status = 'Failed',
        new.stale_run IS NULL AND new.status = 'Error', new.stale_run IS NOT NULL)
    ON CONFLICT DO UPDATE SET passed = passed + excluded.passed, failed = failed + excluded.failed,
        errors = errors + excluded.errors, stale = stale + excluded.stale;
    INSERT INTO counts_control (policy_id, control_id, technology_id, passed, failed, errors, stale)
    VALUES (new.policy_id, new.control_id, new.technology_id, new.stale_run IS NULL AND new.status = 'Passed',
        new.stale_run IS NULL AND new.status = 'Failed', new.stale_run IS NULL AND new.status = 'Error', new.stale_run IS NOT NULL)
    ON CONFLICT DO UPDATE SET passed = passed + excluded.passed, failed = failed + excluded.failed,
        errors = errors + excluded.errors, stale = stale + excluded.stale;
END;

CREATE TRIGGER postures_counts_update AFTER UPDATE ON postures
WHEN old.status IS NOT new.status OR (old.stale_run IS NULL) <> (new.stale_run IS NULL) OR old.policy_id <> new.policy_id
    OR old.host_id <> new.host_id OR old.control_id <> new.control_id OR old.technology_id <> new.technology_id
BEGIN
    UPDATE counts_host SET passed = passed - (old.stale_run IS NULL AND old.status = 'Passed'),
        failed = failed - (old.stale_run IS NULL AND old.status = 'Failed'), errors = errors - (old.stale_run IS NULL AND old.status = 'Error'),
        stale = stale - (old.stale_run IS NOT NULL)
    WHERE policy_id = old.policy_id AND host_id = old.host_id;
    UPDATE counts_control SET passed = passed - (old.stale_run IS NULL AND old.status = 'Passed'),
        failed = failed - (old.stale_run IS NULL AND old.status = 'Failed'), errors = errors - (old.stale_run IS NULL AND old.status = 'Error'),
        stale = stale - (old.stale_run IS NOT NULL)
    WHERE policy_id = old.policy_id AND control_id = old.control_id AND technology_id = old.technology_id;
    INSERT INTO counts_host (policy_id, host_id, passed, failed, errors, stale)
    VALUES (new.policy_id, new.host_id, new.stale_run IS NULL AND new.status = 'Passed', new.stale_run IS NULL AND new.status = 'Failed',
        new.stale_run IS NULL AND new.status = 'Error', new.stale_run IS NOT NULL)
    ON CONFLICT DO UPDATE SET passed = passed + excluded.passed, failed = failed + excluded.failed,
        errors = errors + excluded.errors, stale = stale + excluded.stale;
    INSERT INTO counts_control (policy_id, control_id, technology_id, passed, failed, errors, stale)
    VALUES (new.policy_id, new.control_id, new.technology_id, new.stale_run IS NULL AND new.status = 'Passed',
        new.stale_run IS NULL AND new.status = 'Failed', new.stale_run IS NULL AND new.status = 'Error', new.stale_run IS NOT NULL)
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

-- The figures of each finished run, for trends: policy_id 0 is every
-- policy, framework_id 0 every control. Written when the run finishes.
CREATE TABLE run_counts (
    policy_id    INTEGER NOT NULL,
    framework_id INTEGER NOT NULL,
    run_id       INTEGER NOT NULL,
    passed       INTEGER NOT NULL DEFAULT 0,
    failed       INTEGER NOT NULL DEFAULT 0,
    errors       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (policy_id, framework_id, run_id)
) WITHOUT ROWID;

-- What the Qualys limits cost a run: waits for a rate or concurrency limit,
-- and requests retried after a failure.
ALTER TABLE runs ADD COLUMN throttles INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN retries   INTEGER NOT NULL DEFAULT 0;

-- The access paths of the server's lists: postures of a host or of a
-- control in (policy, host) order; a host's status changes; the changes of
-- runs by new status; hosts by last scan; exceptions by end date.
CREATE INDEX postures_host ON postures (host_id, policy_id, control_id, technology_id, instance);
CREATE INDEX postures_control ON postures (control_id, policy_id, host_id, technology_id, instance);
CREATE INDEX history_host ON history (host_id);
CREATE INDEX history_status ON history (new_status, id);
CREATE INDEX hosts_scanned ON hosts (compliance_last_scan_date);
CREATE INDEX exceptions_end ON exceptions (end_date);

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

-- The access paths of the server's lists: postures of a control in
-- (policy, host) order (a host's are read through postures_natural, one
-- range per policy of the host); a host's status changes; the changes of
-- runs by new status; hosts by last scan; exceptions by end date.
CREATE INDEX postures_control ON postures (control_id, policy_id, host_id, technology_id, instance);
CREATE INDEX history_host ON history (host_id);
CREATE INDEX history_status ON history (new_status, id);
CREATE INDEX hosts_scanned ON hosts (compliance_last_scan_date);
CREATE INDEX exceptions_end ON exceptions (end_date);
CREATE INDEX policy_control_technologies_control ON policy_control_technologies (control_id);

-- Hosts with current postures, per policy and in all: kept from counts_host
-- by these triggers (whatever writes counts_host), so that no figure counts
-- hosts row by row. A host is in current_hosts while it has current
-- postures in at least one policy.
CREATE TABLE counts_policy (
    policy_id INTEGER PRIMARY KEY,
    hosts     INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE current_hosts (
    host_id  INTEGER PRIMARY KEY,
    policies INTEGER NOT NULL DEFAULT 0
);
INSERT INTO counts_policy (policy_id, hosts)
    SELECT policy_id, count(*) FROM counts_host WHERE passed + failed + errors > 0 GROUP BY policy_id;
INSERT INTO current_hosts (host_id, policies)
    SELECT host_id, count(*) FROM counts_host WHERE passed + failed + errors > 0 GROUP BY host_id;

CREATE TRIGGER counts_host_present_insert AFTER INSERT ON counts_host
WHEN new.passed + new.failed + new.errors > 0
BEGIN
    INSERT INTO counts_policy (policy_id, hosts) VALUES (new.policy_id, 1) ON CONFLICT DO UPDATE SET hosts = hosts + 1;
    INSERT INTO current_hosts (host_id, policies) VALUES (new.host_id, 1) ON CONFLICT DO UPDATE SET policies = policies + 1;
END;

CREATE TRIGGER counts_host_present_update AFTER UPDATE ON counts_host
WHEN (old.passed + old.failed + old.errors > 0) <> (new.passed + new.failed + new.errors > 0)
    OR old.policy_id <> new.policy_id OR old.host_id <> new.host_id
BEGIN
    UPDATE counts_policy SET hosts = hosts - 1
        WHERE policy_id = old.policy_id AND old.passed + old.failed + old.errors > 0;
    UPDATE current_hosts SET policies = policies - 1
        WHERE host_id = old.host_id AND old.passed + old.failed + old.errors > 0;
    DELETE FROM current_hosts WHERE host_id = old.host_id AND policies <= 0;
    INSERT INTO counts_policy (policy_id, hosts) SELECT new.policy_id, 1 WHERE new.passed + new.failed + new.errors > 0
        ON CONFLICT DO UPDATE SET hosts = hosts + 1;
    INSERT INTO current_hosts (host_id, policies) SELECT new.host_id, 1 WHERE new.passed + new.failed + new.errors > 0
        ON CONFLICT DO UPDATE SET policies = policies + 1;
END;

CREATE TRIGGER counts_host_present_delete AFTER DELETE ON counts_host
WHEN old.passed + old.failed + old.errors > 0
BEGIN
    UPDATE counts_policy SET hosts = hosts - 1 WHERE policy_id = old.policy_id;
    UPDATE current_hosts SET policies = policies - 1 WHERE host_id = old.host_id;
    DELETE FROM current_hosts WHERE host_id = old.host_id AND policies <= 0;
END;

-- pcsync schema, version 10: postures stored in the order they arrive.
--
-- Schema 6 clustered postures on (policy_id, id). A postureInfo answer is
-- one policy's, but its records come in random id order, and a large
-- policy's answer spans many transactions: each transaction after the
-- first inserted at random places over the policy's whole range of rows,
-- so it rewrote (and past the page cache, read back) every page of that
-- range. On the single-policy shape a 1M sync wrote 7.7 GB. Here the rows
-- are appended by rowid in arrival order, and the key (policy_id, id) is a
-- unique index of small entries, which is what the upserts look up and
-- what keeps "the postures of policy P" a range (BENCHMARKS.md, "Issue 12:
-- postures in arrival order"). The secondary indexes name id as their last
-- column, so that they still cover the keyset order of the read API.

-- The view reads postures; it goes before the table is replaced (a rename
-- checks every view) and comes back after, with its trigger.
DROP VIEW postures_with_evidence;

CREATE TABLE postures_v10 (
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
    cause_of_failure      TEXT,     -- JSON as received
    extra                 TEXT,     -- JSON object of fields pcsync does not model
    first_run             INTEGER NOT NULL,
    last_run              INTEGER NOT NULL,
    stale_run             INTEGER,
    fail_value            TEXT,     -- what a failing posture found (schema 8)
    evidence_seq          INTEGER,  -- its row in posture_evidence (schema 9)
    UNIQUE (policy_id, id)
);
INSERT INTO postures_v10 (policy_id, id, host_id, control_id, technology_id, instance, status, previous_status,
    first_fail_date, last_fail_date, first_pass_date, last_pass_date, posture_modified_date, last_evaluated_date,
    created, criticality_label, criticality_value, cause_of_failure, extra, first_run, last_run, stale_run,
    fail_value, evidence_seq)
SELECT policy_id, id, host_id, control_id, technology_id, instance, status, previous_status,
    first_fail_date, last_fail_date, first_pass_date, last_pass_date, posture_modified_date, last_evaluated_date,
    created, criticality_label, criticality_value, cause_of_failure, extra, first_run, last_run, stale_run,
    fail_value, evidence_seq
FROM postures ORDER BY policy_id, id;
DROP TABLE postures;
ALTER TABLE postures_v10 RENAME TO postures;

-- The indexes and triggers went with the old table.
CREATE INDEX postures_natural ON postures (policy_id, host_id, control_id, technology_id, instance, id);
CREATE INDEX postures_control ON postures (control_id, policy_id, host_id, technology_id, instance, id);
CREATE INDEX postures_failing ON postures (control_id, policy_id, host_id, first_fail_date, fail_value, status, stale_run, id)
    WHERE status = 'Failed' AND stale_run IS NULL;

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

CREATE TRIGGER postures_evidence_replaced AFTER UPDATE OF evidence_seq ON postures
WHEN old.evidence_seq IS NOT NULL AND old.evidence_seq IS NOT new.evidence_seq
BEGIN
    DELETE FROM posture_evidence WHERE policy_id = old.policy_id AND seq = old.evidence_seq;
END;

CREATE TRIGGER postures_evidence_delete AFTER DELETE ON postures
WHEN old.evidence_seq IS NOT NULL
BEGIN
    DELETE FROM posture_evidence WHERE policy_id = old.policy_id AND seq = old.evidence_seq;
END;

CREATE VIEW postures_with_evidence AS
SELECT p.policy_id, p.id, p.host_id, p.control_id, p.technology_id, p.instance, p.status, p.previous_status,
    p.first_fail_date, p.last_fail_date, p.first_pass_date, p.last_pass_date, p.posture_modified_date,
    p.last_evaluated_date, p.created, p.criticality_label, p.criticality_value,
    ev.evidence, p.cause_of_failure, p.extra, p.first_run, p.last_run, p.stale_run
FROM postures p
LEFT JOIN posture_evidence ev ON ev.policy_id = p.policy_id AND ev.seq = p.evidence_seq;

CREATE TRIGGER postures_with_evidence_insert INSTEAD OF INSERT ON postures_with_evidence
BEGIN
    INSERT INTO posture_evidence (policy_id, seq, evidence)
    SELECT new.policy_id, coalesce((SELECT max(seq) FROM posture_evidence WHERE policy_id = new.policy_id), 0) + 1,
        new.evidence
    WHERE new.evidence IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM postures WHERE policy_id = new.policy_id AND id = new.id);
    INSERT OR IGNORE INTO postures (policy_id, id, host_id, control_id, technology_id, instance, status,
        previous_status, first_fail_date, last_fail_date, first_pass_date, last_pass_date, posture_modified_date,
        last_evaluated_date, created, criticality_label, criticality_value, cause_of_failure, extra, first_run,
        last_run, stale_run, evidence_seq)
    VALUES (new.policy_id, new.id, new.host_id, new.control_id, new.technology_id, new.instance, new.status,
        new.previous_status, new.first_fail_date, new.last_fail_date, new.first_pass_date, new.last_pass_date,
        new.posture_modified_date, new.last_evaluated_date, new.created, new.criticality_label,
        new.criticality_value, new.cause_of_failure, new.extra, new.first_run, new.last_run, new.stale_run,
        CASE WHEN new.evidence IS NOT NULL
            THEN (SELECT max(seq) FROM posture_evidence WHERE policy_id = new.policy_id) END);
END;

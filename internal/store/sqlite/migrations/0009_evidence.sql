-- pcsync schema, version 9: evidence in a table of its own, written in the
-- order it arrives (BENCHMARKS.md, "Issue 12: evidence in its own table").
--
-- A posture row with its evidence is 1.5-3 KB. Postures are clustered on
-- (policy_id, id) and a large policy's records arrive in random id order
-- over several transactions, so each transaction after a policy's first
-- rewrote every page of the policy's range, and past the page cache read
-- them back too: a wide sync with evidence fell from 77,000 records/s at
-- 1M to 49,000 at 10M. In posture_evidence a policy's documents are
-- appended (seq counts up within the policy), so a transaction touches the
-- end of the range only, and the posture rows stay small. The cause of
-- failure stays in the row: it is short, and Qualys sends it without
-- evidence too, so a sync without evidence writes nothing here.

CREATE TABLE posture_evidence (
    policy_id        INTEGER NOT NULL,
    seq              INTEGER NOT NULL,  -- the posture's evidence_seq
    evidence         TEXT NOT NULL,     -- JSON as received
    PRIMARY KEY (policy_id, seq)
) WITHOUT ROWID;

-- A stored posture's evidence keeps its id as its seq (unique in the
-- policy); the sync numbers new evidence after the policy's largest seq.
INSERT INTO posture_evidence (policy_id, seq, evidence)
SELECT policy_id, id, evidence FROM postures WHERE evidence IS NOT NULL ORDER BY policy_id, id;

-- NULL when the posture has no evidence.
ALTER TABLE postures ADD COLUMN evidence_seq INTEGER;
UPDATE postures SET evidence_seq = id WHERE evidence IS NOT NULL;
ALTER TABLE postures DROP COLUMN evidence;

-- A posture's evidence goes when it is replaced by an upsert that brought
-- other evidence (or none), or deleted.
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

-- The postures as the registry (store.Tables), export and migrate know
-- them, with their evidence; and what SQL users read instead of the
-- postures table when they want evidence. pcsync migrate inserts through
-- it: a posture already stored is kept as it is, evidence and all (as
-- INSERT OR IGNORE keeps a row), and new evidence is numbered after its
-- policy's last, as the sync numbers it.
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

-- pcsync schema, version 4: what a resumed run needs in order to finish as
-- the run it resumes, and staleness kept as events.

-- The options that shape what a run asks Qualys for (JSON): a resumed run
-- asks with them, not with the flags of the command that resumes it.
ALTER TABLE runs ADD COLUMN request TEXT;
-- 1 once the plan is recorded; a run stopped before that is not resumable.
ALTER TABLE runs ADD COLUMN planned INTEGER NOT NULL DEFAULT 0;
-- Steps that failed before the plan without stopping the run (one a line).
ALTER TABLE runs ADD COLUMN problems TEXT;
-- 1 once the run stored a posture.
ALTER TABLE runs ADD COLUMN wrote INTEGER NOT NULL DEFAULT 0;
UPDATE runs SET planned = 1 WHERE batches > 0 OR EXISTS (SELECT 1 FROM run_batches b WHERE b.run_id = runs.id);
UPDATE runs SET wrote = 1 WHERE records > 0 OR EXISTS (SELECT 1 FROM run_batches b WHERE b.run_id = runs.id AND b.records > 0);

-- Records of a batch that did not decode, committed with the batch.
ALTER TABLE run_batches ADD COLUMN rejects INTEGER NOT NULL DEFAULT 0;

-- What went wrong for a policy before its batches were planned; the
-- error column is that plus the batches that failed, as the run ended.
ALTER TABLE run_policies ADD COLUMN plan_error TEXT;
UPDATE run_policies SET plan_error = error;

-- 1 while a host's postures in the policy must be fetched whole (the host
-- is new or back in the policy): cleared in the transaction that stores a
-- batch that asked for all of that host's postures.
ALTER TABLE policy_hosts ADD COLUMN whole INTEGER NOT NULL DEFAULT 0;

-- A posture marked stale (stale = 1) or back from stale (stale = 0), and
-- the run that saw it, so that a diff of old runs still counts them.
CREATE TABLE stale_history (
    id         INTEGER PRIMARY KEY,
    posture_id INTEGER NOT NULL,
    policy_id  INTEGER NOT NULL,
    host_id    INTEGER NOT NULL,
    control_id INTEGER NOT NULL,
    status     TEXT,
    stale      INTEGER NOT NULL,
    run_id     INTEGER NOT NULL
);
CREATE INDEX stale_history_run ON stale_history (run_id);
INSERT INTO stale_history (posture_id, policy_id, host_id, control_id, status, stale, run_id)
    SELECT id, policy_id, host_id, control_id, status, 1, stale_run FROM postures WHERE stale_run IS NOT NULL;

CREATE TRIGGER postures_stale_history AFTER UPDATE OF stale_run ON postures
WHEN (old.stale_run IS NULL) <> (new.stale_run IS NULL)
BEGIN
    INSERT INTO stale_history (posture_id, policy_id, host_id, control_id, status, stale, run_id)
    VALUES (new.id, new.policy_id, new.host_id, new.control_id, new.status, new.stale_run IS NOT NULL,
        coalesce(new.stale_run, new.last_run));
END;

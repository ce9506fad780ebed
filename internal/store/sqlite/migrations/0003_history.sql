-- pcsync schema, version 3: status history, staleness, host membership,
-- and run plans that a killed run is resumed from.

-- A posture a full run no longer returns is stale (not deleted): stale_run
-- is the run that noticed. Qualys returning it again clears it.
ALTER TABLE postures ADD COLUMN stale_run INTEGER;

-- Every change of a posture's status, as the upsert that changed it saw it.
CREATE TABLE history (
    id         INTEGER PRIMARY KEY,
    posture_id INTEGER NOT NULL,
    policy_id  INTEGER NOT NULL,
    host_id    INTEGER NOT NULL,
    control_id INTEGER NOT NULL,
    old_status TEXT,
    new_status TEXT NOT NULL,
    changed_at TEXT,            -- when Qualys says it changed (postureModifiedDate)
    run_id     INTEGER NOT NULL -- the run that saw it
);
CREATE INDEX history_run ON history (run_id);
CREATE INDEX history_posture ON history (posture_id);

-- Replaying a batch writes the same status again: no row. Only a change
-- of status is history.
CREATE TRIGGER postures_status_history AFTER UPDATE OF status ON postures
WHEN old.status IS NOT new.status
BEGIN
    INSERT INTO history (posture_id, policy_id, host_id, control_id, old_status, new_status, changed_at, run_id)
    VALUES (new.id, new.policy_id, new.host_id, new.control_id, old.status, new.status, new.posture_modified_date, new.last_run);
END;

-- Which hosts each policy covers, as host id resolution last said.
CREATE TABLE policy_hosts (
    policy_id INTEGER NOT NULL,
    host_id   INTEGER NOT NULL,
    first_run INTEGER NOT NULL,
    last_run  INTEGER NOT NULL,
    stale_run INTEGER,          -- the run whose host list no longer had it
    PRIMARY KEY (policy_id, host_id)
) WITHOUT ROWID;

ALTER TABLE runs ADD COLUMN mode TEXT NOT NULL DEFAULT 'full'; -- full or incremental
ALTER TABLE runs ADD COLUMN since TEXT;                        -- the incremental filter's date
ALTER TABLE runs ADD COLUMN resumed INTEGER NOT NULL DEFAULT 0; -- times the run was resumed

-- The plan of a run: one row per postureInfo call (pcrs) or per policy
-- (classic), written before any is fetched; a batch is marked done in the
-- transaction of its last records, so a resumed run skips exactly those.
CREATE TABLE run_batches_v3 (
    run_id         INTEGER NOT NULL,
    batch_no       INTEGER NOT NULL,
    policy_id      INTEGER NOT NULL,
    kind           TEXT NOT NULL DEFAULT 'pcrs', -- pcrs or classic
    host_ids       TEXT,                         -- pcrs: comma-separated, as Qualys sent them
    subscription_id TEXT,                        -- pcrs: as host id resolution gave it
    hosts          INTEGER NOT NULL DEFAULT 0,
    filtered       INTEGER NOT NULL DEFAULT 0,   -- 1: fetched with the incremental filter
    status         TEXT NOT NULL DEFAULT 'pending', -- pending, done, failed, discarded
    cursor         INTEGER,                      -- classic: id_min of the next page
    hosts_returned INTEGER NOT NULL DEFAULT 0,
    records        INTEGER NOT NULL DEFAULT 0,
    passed         INTEGER NOT NULL DEFAULT 0,
    failed         INTEGER NOT NULL DEFAULT 0,
    errors         INTEGER NOT NULL DEFAULT 0,
    error          TEXT,
    finished_at    TEXT,
    PRIMARY KEY (run_id, batch_no)
) WITHOUT ROWID;
INSERT INTO run_batches_v3 (run_id, batch_no, policy_id, status, hosts_returned, records, passed, failed, errors, finished_at)
    SELECT run_id, batch_no, policy_id, 'done', hosts_returned, records, passed, failed, errors, finished_at FROM run_batches;
DROP TABLE run_batches;
ALTER TABLE run_batches_v3 RENAME TO run_batches;

ALTER TABLE run_policies ADD COLUMN stale_hosts    INTEGER NOT NULL DEFAULT 0;
ALTER TABLE run_policies ADD COLUMN stale_postures INTEGER NOT NULL DEFAULT 0;

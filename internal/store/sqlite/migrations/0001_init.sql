-- pcsync schema, version 1: PCRS posture, its catalogue and the run ledger.
-- Dates are TEXT in RFC 3339 UTC ("2021-10-30T09:22:15Z") so that SQLite's
-- date functions and plain string comparison both work on them.

CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL,
    source      TEXT NOT NULL,
    params      TEXT NOT NULL,
    message     TEXT,
    policies    INTEGER NOT NULL DEFAULT 0,
    batches     INTEGER NOT NULL DEFAULT 0,
    records     INTEGER NOT NULL DEFAULT 0,
    passed      INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    errors      INTEGER NOT NULL DEFAULT 0,
    rejects     INTEGER NOT NULL DEFAULT 0,
    wire_bytes  INTEGER NOT NULL DEFAULT 0,  -- bytes received from Qualys
    data_bytes  INTEGER NOT NULL DEFAULT 0   -- bytes of JSON decoded
);

CREATE TABLE run_policies (
    run_id          INTEGER NOT NULL,
    policy_id       INTEGER NOT NULL,
    title           TEXT,
    hosts_requested INTEGER NOT NULL DEFAULT 0,
    hosts_returned  INTEGER NOT NULL DEFAULT 0,
    records         INTEGER NOT NULL DEFAULT 0,
    passed          INTEGER NOT NULL DEFAULT 0,
    failed          INTEGER NOT NULL DEFAULT 0,
    errors          INTEGER NOT NULL DEFAULT 0,
    error           TEXT,
    PRIMARY KEY (run_id, policy_id)
) WITHOUT ROWID;

-- One row per postureInfo request of a run, written when the request's last
-- record is committed (same transaction).
CREATE TABLE run_batches (
    run_id         INTEGER NOT NULL,
    batch_no       INTEGER NOT NULL,
    policy_id      INTEGER NOT NULL,
    hosts_returned INTEGER NOT NULL,
    records        INTEGER NOT NULL,
    passed         INTEGER NOT NULL,
    failed         INTEGER NOT NULL,
    errors         INTEGER NOT NULL,
    finished_at    TEXT NOT NULL,
    PRIMARY KEY (run_id, batch_no)
) WITHOUT ROWID;

CREATE TABLE policies (
    id                  INTEGER PRIMARY KEY,
    title               TEXT,
    created_by          TEXT,
    created_date        TEXT,
    modified_by         TEXT,
    modified_date       TEXT,
    last_evaluated_date TEXT,
    status              TEXT,
    locked              INTEGER NOT NULL DEFAULT 0,
    first_run           INTEGER,
    last_run            INTEGER
);

CREATE TABLE hosts (
    id                        INTEGER PRIMARY KEY,
    ip                        TEXT,
    tracking_method           TEXT,
    os                        TEXT,
    os_cpe                    TEXT,
    dns                       TEXT,
    qg_host_id                TEXT,
    network_id                INTEGER,
    network_name              TEXT,
    compliance_last_scan_date TEXT,
    customer_uuid             TEXT,
    customer_id               INTEGER,
    asset_id                  INTEGER,
    last_run                  INTEGER
);

CREATE TABLE technologies (
    id   INTEGER PRIMARY KEY,
    name TEXT
);

CREATE TABLE controls (
    id                INTEGER PRIMARY KEY,
    criticality_label TEXT,
    criticality_value INTEGER
);

CREATE TABLE policy_controls (
    policy_id  INTEGER NOT NULL,
    control_id INTEGER NOT NULL,
    PRIMARY KEY (policy_id, control_id)
) WITHOUT ROWID;

-- Current posture: one row per Qualys posture record id.
CREATE TABLE postures (
    id                    INTEGER PRIMARY KEY,
    policy_id             INTEGER NOT NULL,
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
    last_run              INTEGER NOT NULL
);

-- The natural key, and the access path for "postures of policy P".
CREATE INDEX postures_natural ON postures (policy_id, host_id, control_id, technology_id, instance);

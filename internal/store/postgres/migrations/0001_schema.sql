-- pcsync schema for PostgreSQL, version 1: the same tables and columns as
-- the SQLite schema (store.Tables lists them, in this column order), in
-- PostgreSQL's types: bigint ids and counts, timestamptz dates, boolean
-- flags, json for documents as Qualys sent them (json keeps the bytes as
-- received; jsonb would reorder keys and rewrite escapes, and a migrated
-- database would no longer checksum equal to its source).
--
-- Distribution-ready (Citus, docs/scaling.md): the large tables (postures,
-- history, stale_history, policy_hosts, counts_host, counts_control,
-- counts_policy, run_counts) carry policy_id in every primary and unique key; the others
-- are small catalogue and ledger tables that can be reference tables.
-- There are no foreign keys. citus_test.go checks these rules.

CREATE TABLE pcsync_schema (version integer NOT NULL);
INSERT INTO pcsync_schema VALUES (0);

CREATE TABLE policies (
    id                  bigint PRIMARY KEY,
    title               text,
    created_by          text,
    created_date        timestamptz,
    modified_by         text,
    modified_date       timestamptz,
    last_evaluated_date timestamptz,
    status              text,
    locked              boolean NOT NULL DEFAULT false,
    first_run           bigint,
    last_run            bigint,
    cover_page          text,
    exported            timestamptz
);

CREATE TABLE technologies (
    id   bigint PRIMARY KEY,
    name text
);

CREATE TABLE controls (
    id                bigint PRIMARY KEY,
    criticality_label text,
    criticality_value bigint,
    category          text,
    sub_category      text,
    statement         text,
    check_type        text,
    comment           text,
    is_active         boolean,
    user_defined      boolean NOT NULL DEFAULT false,
    created_date      timestamptz,
    update_date       timestamptz,
    remediation       text
);

CREATE TABLE control_technologies (
    control_id    bigint NOT NULL,
    technology_id bigint NOT NULL,
    rationale     text,
    PRIMARY KEY (control_id, technology_id)
);

CREATE TABLE frameworks (
    id   bigint PRIMARY KEY,
    name text
);

CREATE TABLE control_frameworks (
    control_id   bigint NOT NULL,
    framework_id bigint NOT NULL,
    reference    text COLLATE "C" NOT NULL DEFAULT '',
    comments     text,
    PRIMARY KEY (control_id, framework_id, reference)
);

CREATE TABLE policy_technologies (
    policy_id     bigint NOT NULL,
    technology_id bigint NOT NULL,
    PRIMARY KEY (policy_id, technology_id)
);

CREATE TABLE sections (
    policy_id bigint NOT NULL,
    number    bigint NOT NULL,
    heading   text,
    PRIMARY KEY (policy_id, number)
);

CREATE TABLE policy_controls (
    policy_id         bigint NOT NULL,
    control_id        bigint NOT NULL,
    section_number    bigint,
    position          bigint,
    criticality_label text,
    criticality_value bigint,
    reference_text    text,
    disabled          boolean NOT NULL DEFAULT false,
    user_defined      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (policy_id, control_id)
);

CREATE TABLE policy_control_technologies (
    policy_id     bigint NOT NULL,
    control_id    bigint NOT NULL,
    technology_id bigint NOT NULL,
    rationale     text,
    remediation   text,
    description   text,
    evaluate      text,
    PRIMARY KEY (policy_id, control_id, technology_id)
);
CREATE INDEX policy_control_technologies_control ON policy_control_technologies (control_id);

CREATE TABLE hosts (
    id                        bigint PRIMARY KEY,
    ip                        text,
    tracking_method           text,
    os                        text,
    os_cpe                    text,
    dns                       text,
    qg_host_id                text,
    network_id                bigint,
    network_name              text,
    compliance_last_scan_date timestamptz,
    customer_uuid             text,
    customer_id               bigint,
    asset_id                  bigint,
    last_run                  bigint
);
CREATE INDEX hosts_scanned ON hosts (compliance_last_scan_date);

-- Current posture: one row per Qualys posture record id, kept with its
-- policy (the distribution column leads the key).
CREATE TABLE postures (
    policy_id             bigint NOT NULL,
    id                    bigint NOT NULL,
    host_id               bigint NOT NULL,
    control_id            bigint NOT NULL,
    technology_id         bigint NOT NULL,
    instance              text COLLATE "C" NOT NULL,
    status                text NOT NULL,
    previous_status       text,
    first_fail_date       timestamptz,
    last_fail_date        timestamptz,
    first_pass_date       timestamptz,
    last_pass_date        timestamptz,
    posture_modified_date timestamptz,
    last_evaluated_date   timestamptz,
    created               timestamptz,
    criticality_label     text,
    criticality_value     bigint,
    evidence              json,
    cause_of_failure      json,
    extra                 json,
    first_run             bigint NOT NULL,
    last_run              bigint NOT NULL,
    stale_run             bigint,
    PRIMARY KEY (policy_id, id)
);
-- Secondary indexes (dropped for a first load and built after it, load.go).
CREATE INDEX postures_id ON postures (id);
CREATE INDEX postures_natural ON postures (policy_id, host_id, control_id, technology_id, instance);
CREATE INDEX postures_host ON postures (host_id, policy_id, control_id, technology_id, instance);
CREATE INDEX postures_control ON postures (control_id, policy_id, host_id, technology_id, instance);

CREATE TABLE exceptions (
    posture_id    bigint PRIMARY KEY,
    assignee      text,
    status        text,
    comments      text,
    created_by    text,
    created_date  timestamptz,
    modified_by   text,
    modified_date timestamptz,
    end_date      timestamptz,
    last_run      bigint,
    policy_id     bigint  -- the posture's: with posture_id, the postures' key
);
CREATE INDEX exceptions_end ON exceptions (end_date);

-- Every change of a posture's status, one row per change (write.go).
CREATE TABLE history (
    id         bigint GENERATED BY DEFAULT AS IDENTITY,
    posture_id bigint NOT NULL,
    policy_id  bigint NOT NULL,
    host_id    bigint NOT NULL,
    control_id bigint NOT NULL,
    old_status text,
    new_status text NOT NULL,
    changed_at timestamptz,
    run_id     bigint NOT NULL,
    PRIMARY KEY (policy_id, id)
);
CREATE INDEX history_id ON history (id);
CREATE INDEX history_run ON history (run_id);
CREATE INDEX history_posture ON history (posture_id);
CREATE INDEX history_host ON history (host_id);
CREATE INDEX history_status ON history (new_status, id);

-- Postures marked stale (stale true) and back from stale (false).
CREATE TABLE stale_history (
    id         bigint GENERATED BY DEFAULT AS IDENTITY,
    posture_id bigint NOT NULL,
    policy_id  bigint NOT NULL,
    host_id    bigint NOT NULL,
    control_id bigint NOT NULL,
    status     text,
    stale      boolean NOT NULL,
    run_id     bigint NOT NULL,
    PRIMARY KEY (policy_id, id)
);
CREATE INDEX stale_history_id ON stale_history (id);
CREATE INDEX stale_history_run ON stale_history (run_id);

CREATE TABLE policy_hosts (
    policy_id bigint NOT NULL,
    host_id   bigint NOT NULL,
    first_run bigint NOT NULL,
    last_run  bigint NOT NULL,
    stale_run bigint,
    whole     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (policy_id, host_id)
);

CREATE TABLE runs (
    id          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    status      text NOT NULL,
    source      text NOT NULL,
    params      json NOT NULL,
    message     text,
    policies    bigint NOT NULL DEFAULT 0,
    batches     bigint NOT NULL DEFAULT 0,
    records     bigint NOT NULL DEFAULT 0,
    passed      bigint NOT NULL DEFAULT 0,
    failed      bigint NOT NULL DEFAULT 0,
    errors      bigint NOT NULL DEFAULT 0,
    rejects     bigint NOT NULL DEFAULT 0,
    wire_bytes  bigint NOT NULL DEFAULT 0,
    data_bytes  bigint NOT NULL DEFAULT 0,
    mode        text NOT NULL DEFAULT 'full',
    since       timestamptz,
    resumed     bigint NOT NULL DEFAULT 0,
    request     json,
    planned     boolean NOT NULL DEFAULT false,
    problems    text,
    wrote       boolean NOT NULL DEFAULT false,
    throttles   bigint NOT NULL DEFAULT 0,
    retries     bigint NOT NULL DEFAULT 0,
    shard       text              -- K/N of a sharded sync (pcsync sync --shard)
);

CREATE TABLE run_policies (
    run_id          bigint NOT NULL,
    policy_id       bigint NOT NULL,
    title           text,
    hosts_requested bigint NOT NULL DEFAULT 0,
    hosts_returned  bigint NOT NULL DEFAULT 0,
    records         bigint NOT NULL DEFAULT 0,
    passed          bigint NOT NULL DEFAULT 0,
    failed          bigint NOT NULL DEFAULT 0,
    errors          bigint NOT NULL DEFAULT 0,
    error           text,
    stale_hosts     bigint NOT NULL DEFAULT 0,
    stale_postures  bigint NOT NULL DEFAULT 0,
    plan_error      text,
    PRIMARY KEY (run_id, policy_id)
);

CREATE TABLE run_batches (
    run_id          bigint NOT NULL,
    batch_no        bigint NOT NULL,
    policy_id       bigint NOT NULL,
    kind            text NOT NULL DEFAULT 'pcrs',
    host_ids        text,
    subscription_id text,
    hosts           bigint NOT NULL DEFAULT 0,
    filtered        boolean NOT NULL DEFAULT false,
    status          text NOT NULL DEFAULT 'pending',
    cursor          bigint,
    hosts_returned  bigint NOT NULL DEFAULT 0,
    records         bigint NOT NULL DEFAULT 0,
    passed          bigint NOT NULL DEFAULT 0,
    failed          bigint NOT NULL DEFAULT 0,
    errors          bigint NOT NULL DEFAULT 0,
    error           text,
    finished_at     timestamptz,
    rejects         bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, batch_no)
);

-- The read model (as SQLite's): current posture counts per policy and
-- host and per policy, control and technology, kept by the transactions
-- that change postures (write.go, stale.go); stale counts stale postures.
CREATE TABLE counts_host (
    policy_id bigint NOT NULL,
    host_id   bigint NOT NULL,
    passed    bigint NOT NULL DEFAULT 0,
    failed    bigint NOT NULL DEFAULT 0,
    errors    bigint NOT NULL DEFAULT 0,
    stale     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (policy_id, host_id)
);
CREATE INDEX counts_host_host ON counts_host (host_id);

CREATE TABLE counts_control (
    policy_id     bigint NOT NULL,
    control_id    bigint NOT NULL,
    technology_id bigint NOT NULL,
    passed        bigint NOT NULL DEFAULT 0,
    failed        bigint NOT NULL DEFAULT 0,
    errors        bigint NOT NULL DEFAULT 0,
    stale         bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (policy_id, control_id, technology_id)
);
CREATE INDEX counts_control_control ON counts_control (control_id);

-- Hosts with current postures per policy, and policies with current
-- postures per host (a host is in current_hosts while it has any), moved
-- with counts_host in the same statements, so that no figure counts hosts
-- row by row. current_hosts is keyed by host: a reference table under
-- Citus, like hosts.
CREATE TABLE counts_policy (
    policy_id bigint PRIMARY KEY,
    hosts     bigint NOT NULL DEFAULT 0
);
CREATE TABLE current_hosts (
    host_id  bigint PRIMARY KEY,
    policies bigint NOT NULL DEFAULT 0
);
CREATE INDEX current_hosts_gone ON current_hosts (host_id) WHERE policies <= 0;

-- The figures of each finished run: policy_id 0 is every policy,
-- framework_id 0 every control.
CREATE TABLE run_counts (
    policy_id    bigint NOT NULL,
    framework_id bigint NOT NULL,
    run_id       bigint NOT NULL,
    passed       bigint NOT NULL DEFAULT 0,
    failed       bigint NOT NULL DEFAULT 0,
    errors       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (policy_id, framework_id, run_id)
);

-- pcsync schema, version 2: the classic API's compliance catalogue
-- (policy exports, the control library, frameworks) and posture exceptions.

ALTER TABLE controls ADD COLUMN category     TEXT;
ALTER TABLE controls ADD COLUMN sub_category TEXT;
ALTER TABLE controls ADD COLUMN statement    TEXT;
ALTER TABLE controls ADD COLUMN check_type   TEXT;
ALTER TABLE controls ADD COLUMN comment      TEXT;
ALTER TABLE controls ADD COLUMN is_active    INTEGER;
ALTER TABLE controls ADD COLUMN user_defined INTEGER NOT NULL DEFAULT 0;
ALTER TABLE controls ADD COLUMN created_date TEXT;
ALTER TABLE controls ADD COLUMN update_date  TEXT;
ALTER TABLE controls ADD COLUMN remediation  TEXT;

ALTER TABLE policies ADD COLUMN cover_page TEXT;
ALTER TABLE policies ADD COLUMN exported   TEXT;

-- Why a control matters on each technology (control list, details=All).
CREATE TABLE control_technologies (
    control_id    INTEGER NOT NULL,
    technology_id INTEGER NOT NULL,
    rationale     TEXT,
    PRIMARY KEY (control_id, technology_id)
) WITHOUT ROWID;

CREATE TABLE frameworks (
    id   INTEGER PRIMARY KEY,
    name TEXT
);

-- Which framework sections (mandates) a control satisfies.
CREATE TABLE control_frameworks (
    control_id   INTEGER NOT NULL,
    framework_id INTEGER NOT NULL,
    reference    TEXT NOT NULL DEFAULT '',
    comments     TEXT,
    PRIMARY KEY (control_id, framework_id, reference)
) WITHOUT ROWID;

-- Policy exports: technologies, sections, and the controls of each section
-- with what the policy expects per technology.
CREATE TABLE policy_technologies (
    policy_id     INTEGER NOT NULL,
    technology_id INTEGER NOT NULL,
    PRIMARY KEY (policy_id, technology_id)
) WITHOUT ROWID;

CREATE TABLE sections (
    policy_id INTEGER NOT NULL,
    number    INTEGER NOT NULL,
    heading   TEXT,
    PRIMARY KEY (policy_id, number)
) WITHOUT ROWID;

ALTER TABLE policy_controls ADD COLUMN section_number    INTEGER;
ALTER TABLE policy_controls ADD COLUMN position          INTEGER;  -- order within the section
ALTER TABLE policy_controls ADD COLUMN criticality_label TEXT;
ALTER TABLE policy_controls ADD COLUMN criticality_value INTEGER;
ALTER TABLE policy_controls ADD COLUMN reference_text    TEXT;
ALTER TABLE policy_controls ADD COLUMN disabled          INTEGER NOT NULL DEFAULT 0;
ALTER TABLE policy_controls ADD COLUMN user_defined      INTEGER NOT NULL DEFAULT 0;

CREATE TABLE policy_control_technologies (
    policy_id     INTEGER NOT NULL,
    control_id    INTEGER NOT NULL,
    technology_id INTEGER NOT NULL,
    rationale     TEXT,
    remediation   TEXT,
    description   TEXT,
    evaluate      TEXT,  -- the expected value as the policy states it
    PRIMARY KEY (policy_id, control_id, technology_id)
) WITHOUT ROWID;

-- Exceptions granted on postures (classic posture info).
CREATE TABLE exceptions (
    posture_id    INTEGER PRIMARY KEY,
    assignee      TEXT,
    status        TEXT,
    comments      TEXT,
    created_by    TEXT,
    created_date  TEXT,
    modified_by   TEXT,
    modified_date TEXT,
    end_date      TEXT,
    last_run      INTEGER
);

-- blitz_schema.sql: state Blitz keeps beside the model's tables (applied by omero-blitz at
-- start, idempotent). Everything here is keyed on OMERO's own rows.

-- OMERO orders a user's groups by groupexperimentermap.child_index (index 0 = default group);
-- the model has the column, this only helps databases created before it did.
ALTER TABLE groupexperimentermap ADD COLUMN IF NOT EXISTS child_index int4;

-- Per-session state OMERO kept in memory: the current group and the last access (written at
-- most every few seconds), so every Blitz replica serves every session.
CREATE TABLE IF NOT EXISTS blitz_session (
    session_id int8 NOT NULL PRIMARY KEY REFERENCES session (id) ON DELETE CASCADE,
    group_id int8 NOT NULL REFERENCES experimentergroup (id),
    last_access timestamp NOT NULL DEFAULT now()
);

-- Failed logins per user name (known or not), for omero.security.login_failure_throttle_*.
CREATE TABLE IF NOT EXISTS blitz_login_failure (
    name varchar(255) NOT NULL PRIMARY KEY,
    failures int4 NOT NULL,
    last_failure timestamp NOT NULL
);

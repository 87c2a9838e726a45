-- imbridge PostgreSQL schema, version 1: the same tables as the sled store.
-- Records are JSON text with the field names of src/store/records.rs (stable: renaming one
-- is a schema change). Ids are TEXT in the "C" collation so they sort bytewise, as in sled.
-- The runner (src/store/postgres/migrate.rs) applies this in one transaction and records
-- the version in schema_version.

CREATE TABLE logins (
    mxid TEXT COLLATE "C" PRIMARY KEY,
    record TEXT NOT NULL
);

CREATE TABLE ghosts (
    remote_id TEXT COLLATE "C" PRIMARY KEY,
    record TEXT NOT NULL
);

CREATE TABLE portals (
    key TEXT COLLATE "C" PRIMARY KEY,
    record TEXT NOT NULL
);

-- Matrix room -> portal key (kept with the portal in one transaction).
CREATE TABLE room_portals (
    room_id TEXT COLLATE "C" PRIMARY KEY,
    portal_key TEXT COLLATE "C" NOT NULL
);

-- (portal, remote message, part) -> record; event_id repeats the record's for joins.
CREATE TABLE messages (
    portal TEXT COLLATE "C" NOT NULL,
    remote_id TEXT COLLATE "C" NOT NULL,
    part INT8 NOT NULL,
    event_id TEXT COLLATE "C" NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (portal, remote_id, part)
);

-- Matrix event -> where its message record is.
CREATE TABLE message_events (
    event_id TEXT COLLATE "C" PRIMARY KEY,
    portal TEXT COLLATE "C" NOT NULL,
    remote_id TEXT COLLATE "C" NOT NULL,
    part INT8 NOT NULL
);

CREATE TABLE reactions (
    portal TEXT COLLATE "C" NOT NULL,
    target TEXT COLLATE "C" NOT NULL,
    sender TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (portal, target, sender, key)
);

-- Matrix event -> where its reaction record is.
CREATE TABLE reaction_events (
    event_id TEXT COLLATE "C" PRIMARY KEY,
    portal TEXT COLLATE "C" NOT NULL,
    target TEXT COLLATE "C" NOT NULL,
    sender TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL
);

CREATE TABLE kv (
    key TEXT COLLATE "C" PRIMARY KEY,
    value TEXT NOT NULL
);

-- Appservice dedup marks: scope (16 bytes), transaction or event id, time (ms since the
-- epoch) and, for transaction-id marks, the 16-byte fingerprint.
CREATE TABLE txn_marks (
    scope BYTEA NOT NULL,
    id TEXT COLLATE "C" NOT NULL,
    ts_ms INT8 NOT NULL,
    fingerprint BYTEA,
    PRIMARY KEY (scope, id)
);
CREATE INDEX txn_marks_by_time ON txn_marks (scope, ts_ms, id);

-- The durable inbox: one sequence for every queue, so numbers increase within each queue.
CREATE SEQUENCE inbox_seq AS INT8 MINVALUE 0 START 0;
CREATE TABLE inbox (
    queue TEXT COLLATE "C" NOT NULL,
    seq INT8 NOT NULL,
    item BYTEA NOT NULL,
    PRIMARY KEY (queue, seq)
);

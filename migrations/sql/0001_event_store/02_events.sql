-- The log. Every event records the id of the transaction that wrote it
-- (tx_id) next to its position; the global log is ordered by (tx_id, position)
-- and readers only read transactions older than every running one, which is
-- what makes the log gap-safe without serializing writers (see read_all in
-- eventsourcing_core/postgres/statements.py).
CREATE TABLE {schema}.events (
    tx_id          bigint      NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    position       bigint      NOT NULL GENERATED ALWAYS AS IDENTITY,
    stream_id      text        NOT NULL,
    category       text        NOT NULL GENERATED ALWAYS AS (split_part(stream_id, '-', 1)) STORED,
    version        bigint      NOT NULL CHECK (version > 0),
    event_id       uuid        NOT NULL,
    event_type     text        NOT NULL,
    schema_version integer     NOT NULL DEFAULT 1 CHECK (schema_version > 0),
    data           jsonb       NOT NULL,
    metadata       jsonb       NOT NULL,
    created_at     timestamptz NOT NULL,
    CONSTRAINT events_pkey PRIMARY KEY (tx_id, position),
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, version)
);

CREATE INDEX events_category_idx ON {schema}.events (category, tx_id, position);

CREATE INDEX events_event_type_idx ON {schema}.events (event_type, tx_id, position);

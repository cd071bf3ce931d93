-- Events moved out of the hot table by archive_streams: those of deleted or
-- truncated streams that stream reads no longer return. Each keeps its tx_id
-- and position, so readers that ask for archived events read both tables in
-- the global log's order. Append-only too: nothing may change or remove them.
CREATE TABLE {schema}.events_archive (
    tx_id          bigint      NOT NULL,
    position       bigint      NOT NULL,
    stream_id      text        NOT NULL,
    category       text        NOT NULL,
    version        bigint      NOT NULL,
    event_id       uuid        NOT NULL,
    event_type     text        NOT NULL,
    schema_version integer     NOT NULL,
    data           jsonb       NOT NULL,
    metadata       jsonb       NOT NULL,
    created_at     timestamptz NOT NULL,
    archived_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_archive_pkey PRIMARY KEY (tx_id, position)
);

CREATE INDEX events_archive_stream_idx ON {schema}.events_archive (stream_id, version);

CREATE TRIGGER events_archive_refuse_update_delete
    BEFORE UPDATE OR DELETE ON {schema}.events_archive
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.refuse_change();

CREATE TRIGGER events_archive_refuse_truncate
    BEFORE TRUNCATE ON {schema}.events_archive
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.refuse_change();

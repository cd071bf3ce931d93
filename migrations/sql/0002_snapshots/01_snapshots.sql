-- The latest snapshot of each aggregate's state, to load long streams fast.
-- A snapshot is a cache: it can be deleted at any time (loading then replays
-- the whole stream), and it is replaced as the aggregate moves on, so unlike
-- the events table it is not append-only. state_version is the aggregate
-- class's snapshot format: a snapshot of another format is ignored.
CREATE TABLE {schema}.snapshots (
    stream_id      text        NOT NULL,
    aggregate_type text        NOT NULL,
    state_version  integer     NOT NULL,
    version        bigint      NOT NULL CHECK (version > 0),
    state          jsonb       NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT snapshots_pkey PRIMARY KEY (stream_id)
);

-- One row per stream: its current version. Appends lock this row, so writers
-- to the same stream queue here and writers to different streams never meet.
CREATE TABLE {schema}.streams (
    stream_id  text        NOT NULL,
    category   text        NOT NULL GENERATED ALWAYS AS (split_part(stream_id, '-', 1)) STORED,
    version    bigint      NOT NULL CHECK (version > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT streams_pkey PRIMARY KEY (stream_id)
);

CREATE INDEX streams_category_idx ON {schema}.streams (category, stream_id);

-- Stream reads start at first_version: truncate_stream moves it forward,
-- delete_stream moves it past the last event (and stamps deleted_at). The
-- stream's version is kept, so appends go on from the next version.
ALTER TABLE {schema}.streams
    ADD COLUMN first_version bigint NOT NULL DEFAULT 1 CHECK (first_version > 0),
    ADD COLUMN deleted_at    timestamptz;

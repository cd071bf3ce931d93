-- A projection's checkpoint row also carries what an operator needs to see:
-- whether it runs, how far it got, and the last error.
ALTER TABLE {schema}.checkpoints
    ADD COLUMN status     text        NOT NULL DEFAULT 'idle'
        CHECK (status IN ('idle', 'running', 'stopped', 'failed')),
    ADD COLUMN processed  bigint      NOT NULL DEFAULT 0,
    ADD COLUMN last_error text,
    ADD COLUMN error_at   timestamptz;

DROP TABLE {schema}.projection_versions;
DROP TABLE {schema}.processed_events;
DROP TABLE {schema}.parked_events;
ALTER TABLE {schema}.checkpoints
    DROP COLUMN error_at,
    DROP COLUMN last_error,
    DROP COLUMN processed,
    DROP COLUMN status;

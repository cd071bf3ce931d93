-- Append a batch of events to one stream, in one round trip.
--
-- p_expected: an exact version >= 0 (0: the stream must not exist),
-- -1: any, -2: the stream must exist, -3: the stream must not exist.
--
-- Concurrency: the expected version is checked by locking the stream's row
-- (INSERT ... ON CONFLICT, or UPDATE ... WHERE version = expected), so
-- writers to one stream queue on that row and the loser of a race sees the
-- winner's version once it commits. The events' global positions are drawn
-- only after that check passed, so a rejected append consumes none.
--
-- Idempotency: a retry with an exact expected version (or NO_STREAM) fails
-- the version check and is recognised here. With ANY or STREAM_EXISTS it
-- passes the check, and the insert then hits events_event_id_key; the client
-- answers that by calling replayed_append itself (no probe on the hot path).
-- Inside a caller's transaction that error would abort the transaction, so
-- there the client sets p_probe and the first event id is looked up first.
CREATE FUNCTION {schema}.append_to_stream(
    p_stream_id       text,
    p_expected        bigint,
    p_event_ids       uuid[],
    p_event_types     text[],
    p_schema_versions integer[],
    p_data            jsonb[],
    p_metadata        jsonb[],
    p_timestamps      timestamptz[],
    p_probe           boolean,
    OUT new_version    bigint,
    OUT transaction_id bigint,
    OUT last_position  bigint
)
LANGUAGE plpgsql AS $$
DECLARE
    batch_size constant bigint := cardinality(p_event_ids);
    previous bigint;
BEGIN
    IF p_probe AND p_expected IN (-1, -2)
       AND EXISTS (SELECT FROM {schema}.events e WHERE e.event_id = p_event_ids[1]) THEN
        SELECT r.* INTO new_version, transaction_id, last_position
          FROM {schema}.replayed_append(p_stream_id, p_expected, p_event_ids, p_event_types, p_data) r;
        RETURN;
    END IF;

    IF p_expected = -1 THEN
        INSERT INTO {schema}.streams AS s (stream_id, version)
        VALUES (p_stream_id, batch_size)
        ON CONFLICT (stream_id) DO UPDATE SET version = s.version + batch_size, updated_at = now()
        RETURNING s.version - batch_size INTO previous;
    ELSIF p_expected IN (0, -3) THEN
        INSERT INTO {schema}.streams (stream_id, version)
        VALUES (p_stream_id, batch_size)
        ON CONFLICT (stream_id) DO NOTHING
        RETURNING 0 INTO previous;
    ELSE
        UPDATE {schema}.streams s
           SET version = s.version + batch_size, updated_at = now()
         WHERE s.stream_id = p_stream_id AND (p_expected = -2 OR s.version = p_expected)
        RETURNING s.version - batch_size INTO previous;
    END IF;

    IF previous IS NULL THEN
        -- The stream is elsewhere than expected. A retry of an append that
        -- committed (the client never heard back) looks exactly like this:
        -- tell the two apart by the first event id (one index lookup).
        IF EXISTS (SELECT FROM {schema}.events e WHERE e.event_id = p_event_ids[1]) THEN
            SELECT r.* INTO new_version, transaction_id, last_position
              FROM {schema}.replayed_append(p_stream_id, p_expected, p_event_ids, p_event_types, p_data) r;
            RETURN;
        END IF;
        PERFORM {schema}.raise_wrong_expected_version(p_stream_id, p_expected);
    END IF;

    WITH inserted AS (
        INSERT INTO {schema}.events
            (stream_id, version, event_id, event_type, schema_version, data, metadata, created_at)
        SELECT p_stream_id, previous + u.ord, u.event_id, u.event_type, u.schema_version,
               u.data, u.metadata, u.created_at
          FROM unnest(p_event_ids, p_event_types, p_schema_versions, p_data, p_metadata,
                      p_timestamps) WITH ORDINALITY
                   AS u (event_id, event_type, schema_version, data, metadata, created_at, ord)
         ORDER BY u.ord
        RETURNING position
    )
    SELECT max(i.position) INTO last_position FROM inserted i;

    new_version := previous + batch_size;
    transaction_id := pg_current_xact_id()::text::bigint;
END
$$;

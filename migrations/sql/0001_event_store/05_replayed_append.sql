-- An append whose first event id is already recorded is either a retry of an
-- append that committed (the client never heard back) or a client bug.
-- It is a retry when every event id is recorded in this stream, at
-- consecutive versions, in the same order, with the same type and data, where
-- the expected version allowed it; the first append's result is returned.
-- Anything else raises ES002 naming the first event id that differs.
-- The client also calls this after an insert hit events_event_id_key.
CREATE FUNCTION {schema}.replayed_append(
    p_stream_id   text,
    p_expected    bigint,
    p_event_ids   uuid[],
    p_event_types text[],
    p_data        jsonb[],
    OUT new_version    bigint,
    OUT transaction_id bigint,
    OUT last_position  bigint
)
LANGUAGE plpgsql AS $$
DECLARE
    first_version bigint := (
        SELECT e.version FROM {schema}.events e WHERE e.event_id = p_event_ids[1]);
    differing record;
BEGIN
    IF first_version IS NULL THEN
        SELECT u.event_id, e.stream_id, e.version, u.ord
          INTO differing
          FROM unnest(p_event_ids) WITH ORDINALITY AS u (event_id, ord)
          JOIN {schema}.events e ON e.event_id = u.event_id
         ORDER BY u.ord
         LIMIT 1;
        RAISE EXCEPTION 'Event id % is already recorded: it is in stream % at version %, and this batch (event % of %) is no retry of it',
            differing.event_id, quote_literal(differing.stream_id), differing.version,
            differing.ord, cardinality(p_event_ids)
            USING ERRCODE = 'ES002', DETAIL = coalesce(differing.event_id, p_event_ids[1])::text;
    END IF;

    SELECT u.event_id, e.stream_id, e.version, e.event_type AS recorded_type,
           u.event_type AS given_type, first_version + u.ord - 1 AS wanted_version
      INTO differing
      FROM unnest(p_event_ids, p_event_types, p_data) WITH ORDINALITY
               AS u (event_id, event_type, data, ord)
      LEFT JOIN {schema}.events e ON e.event_id = u.event_id
     WHERE e.event_id IS NULL
        OR e.stream_id <> p_stream_id
        OR e.version <> first_version + u.ord - 1
        OR e.event_type <> u.event_type
        OR e.data <> u.data
     ORDER BY u.ord
     LIMIT 1;

    IF FOUND THEN
        RAISE EXCEPTION 'Event id % is already recorded: %', differing.event_id,
            CASE
                WHEN differing.stream_id IS NULL THEN
                    'the retried batch''s first event is recorded but this one is not'
                WHEN differing.stream_id <> p_stream_id
                  OR differing.version <> differing.wanted_version THEN
                    format('it is in stream %L at version %s, not in %L at version %s',
                           differing.stream_id, differing.version, p_stream_id,
                           differing.wanted_version)
                WHEN differing.recorded_type <> differing.given_type THEN
                    format('it is in stream %L at version %s as %s, not %s',
                           differing.stream_id, differing.version, differing.recorded_type,
                           differing.given_type)
                ELSE format('it is in stream %L at version %s with different data',
                            differing.stream_id, differing.version)
            END
            USING ERRCODE = 'ES002', DETAIL = differing.event_id::text;
    END IF;

    IF NOT (p_expected = -1
            OR (p_expected = -2 AND first_version > 1)
            OR (p_expected = -3 AND first_version = 1)
            OR (p_expected >= 0 AND first_version = p_expected + 1)) THEN
        RAISE EXCEPTION 'Event id % is already recorded: it is in stream % at version %, which the expected version % does not allow',
            p_event_ids[1], quote_literal(p_stream_id), first_version, p_expected
            USING ERRCODE = 'ES002', DETAIL = p_event_ids[1]::text;
    END IF;

    SELECT e.version, e.tx_id, e.position
      INTO new_version, transaction_id, last_position
      FROM {schema}.events e
     WHERE e.event_id = p_event_ids[cardinality(p_event_ids)];
END
$$;

-- Archive: move the events that stream reads no longer return (those of
-- deleted or truncated streams: version < first_version) from events to
-- events_archive. p_stream_id NULL: every stream.
--
-- Only events that every projection (the relay included) has passed, by the
-- checkpoints table: an event a lagging reader has not reached stays in the
-- log, so no projection and no relay misses it. At most p_limit events per
-- call, so that the transaction (which holds an id, like any writer, and holds
-- global readers back until it commits) stays short: callers call again until
-- fewer than p_limit move (store.lifecycle.archive does).
--
-- Readers of the global log stay exact: a statement sees the moved rows either
-- in events (before the commit) or in events_archive (after), never both and
-- never neither, and they keep their (tx_id, position), below any read bound.
CREATE FUNCTION {schema}.archive_streams(p_stream_id text DEFAULT NULL,
                                         p_limit bigint DEFAULT 10000) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    moved_count bigint;
    slowest_tx bigint;
    slowest_position bigint;
BEGIN
    SELECT c.tx_id, c.position INTO slowest_tx, slowest_position
      FROM {schema}.checkpoints c ORDER BY c.tx_id, c.position LIMIT 1;
    PERFORM set_config('escore.archiving', 'on', true);
    WITH chosen AS (
        SELECT e.ctid AS row_id
          FROM {schema}.streams s
          JOIN {schema}.events e ON e.stream_id = s.stream_id AND e.version < s.first_version
         WHERE s.first_version > 1
           AND (p_stream_id IS NULL OR s.stream_id = p_stream_id)
           AND (slowest_tx IS NULL OR (e.tx_id, e.position) <= (slowest_tx, slowest_position))
         LIMIT p_limit
    ), moved AS (
        DELETE FROM {schema}.events e
         WHERE e.ctid IN (SELECT row_id FROM chosen)
        RETURNING e.tx_id, e.position, e.stream_id, e.category, e.version, e.event_id,
                  e.event_type, e.schema_version, e.data, e.metadata, e.created_at
    )
    INSERT INTO {schema}.events_archive
        (tx_id, position, stream_id, category, version, event_id, event_type, schema_version,
         data, metadata, created_at)
    SELECT * FROM moved;
    GET DIAGNOSTICS moved_count = ROW_COUNT;
    PERFORM set_config('escore.archiving', 'off', true);
    IF moved_count > 0 THEN
        PERFORM {schema}.record_lifecycle_event(
            'EventsArchived', jsonb_build_object('stream_id', p_stream_id, 'events', moved_count));
    END IF;
    RETURN moved_count;
END
$$;

REVOKE ALL ON FUNCTION {schema}.archive_streams(text, bigint) FROM PUBLIC;

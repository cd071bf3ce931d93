-- Archive: move the events that stream reads no longer return (those of
-- deleted or truncated streams: version < first_version) from events to
-- events_archive, in one transaction. p_stream_id NULL: every stream.
--
-- Readers of the global log stay exact: a statement sees the moved rows either
-- in events (before the commit) or in events_archive (after), never both and
-- never neither, and they keep their (tx_id, position), far below any read
-- bound. This transaction holds an id while it runs, like any writer, so it
-- holds global readers back until it commits: archive in modest batches.
CREATE FUNCTION {schema}.archive_streams(p_stream_id text DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    moved_count bigint;
BEGIN
    PERFORM set_config('escore.archiving', 'on', true);
    WITH moved AS (
        DELETE FROM {schema}.events e
         USING {schema}.streams s
         WHERE s.stream_id = e.stream_id AND e.version < s.first_version
           AND (p_stream_id IS NULL OR s.stream_id = p_stream_id)
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

REVOKE ALL ON FUNCTION {schema}.archive_streams(text) FROM PUBLIC;

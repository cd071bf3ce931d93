-- Every lifecycle operation is recorded as an event of its own in the stream
-- '$lifecycle' (audit), in the operation's transaction, naming who ran it.
CREATE FUNCTION {schema}.record_lifecycle_event(p_event_type text, p_data jsonb) RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    WITH stream AS (
        INSERT INTO {schema}.streams AS s (stream_id, version) VALUES ('$lifecycle', 1)
        ON CONFLICT (stream_id) DO UPDATE SET version = s.version + 1, updated_at = now()
        RETURNING s.version
    )
    INSERT INTO {schema}.events
        (stream_id, version, event_id, event_type, schema_version, data, metadata, created_at)
    SELECT '$lifecycle', stream.version, gen_random_uuid(), p_event_type, 1,
           p_data || jsonb_build_object('by', session_user::text),
           '{{"correlation_id": null, "causation_id": null, "headers": {{}}}}'::jsonb, now()
      FROM stream;
$$;

REVOKE ALL ON FUNCTION {schema}.record_lifecycle_event(text, jsonb) FROM PUBLIC;

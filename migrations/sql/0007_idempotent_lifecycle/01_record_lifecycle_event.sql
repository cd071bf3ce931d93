-- The audit event of an operation that a client may retry: its event id is the
-- operation's id, chosen by the client once per call, so a retry after a lost
-- reply finds the first attempt's event instead of recording a second one.
CREATE FUNCTION {schema}.record_lifecycle_event(p_event_type text, p_data jsonb, p_event_id uuid)
RETURNS void
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    WITH stream AS (
        INSERT INTO {schema}.streams AS s (stream_id, version) VALUES ('$lifecycle', 1)
        ON CONFLICT (stream_id) DO UPDATE SET version = s.version + 1, updated_at = now()
        RETURNING s.version
    )
    INSERT INTO {schema}.events
        (stream_id, version, event_id, event_type, schema_version, data, metadata, created_at)
    SELECT '$lifecycle', stream.version, p_event_id, p_event_type, 1,
           p_data || jsonb_build_object('by', session_user::text),
           '{{"correlation_id": null, "causation_id": null, "headers": {{}}}}'::jsonb, now()
      FROM stream;
$$;

REVOKE ALL ON FUNCTION {schema}.record_lifecycle_event(text, jsonb, uuid) FROM PUBLIC;

-- The data of an operation's audit event, if that operation committed already.
CREATE FUNCTION {schema}.recorded_operation(p_operation uuid) RETURNS jsonb
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT e.data FROM {schema}.events e
     WHERE e.event_id = p_operation AND e.stream_id = '$lifecycle';
$$;

REVOKE ALL ON FUNCTION {schema}.recorded_operation(uuid) FROM PUBLIC;

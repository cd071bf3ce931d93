-- delete_stream with an operation id: a retry after a lost reply returns the
-- first attempt's kept version and records no second StreamDeleted event.
-- Without one it works as before. It replaces delete_stream(text), keeping
-- its grants (the revision's Python step moves them, then drops the old
-- function).
CREATE FUNCTION {schema}.delete_stream(p_stream_id text, p_operation uuid DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    operation uuid := coalesce(p_operation, gen_random_uuid());
    kept bigint;
    recorded jsonb;
BEGIN
    IF p_stream_id = '$lifecycle' THEN
        RAISE EXCEPTION 'The audit stream $lifecycle cannot be deleted' USING ERRCODE = 'ES005';
    END IF;
    -- The stream row is locked first: a first attempt still running holds it,
    -- and the check below, a statement after the wait, then sees its event.
    PERFORM FROM {schema}.streams WHERE stream_id = p_stream_id FOR UPDATE;
    recorded := {schema}.recorded_operation(operation);
    IF recorded IS NOT NULL THEN
        RETURN (recorded ->> 'version')::bigint;
    END IF;
    UPDATE {schema}.streams SET first_version = version + 1, deleted_at = now()
     WHERE stream_id = p_stream_id
    RETURNING version INTO kept;
    IF kept IS NULL THEN
        RAISE EXCEPTION 'Stream not found: %', p_stream_id USING ERRCODE = 'ES004';
    END IF;
    DELETE FROM {schema}.snapshots WHERE stream_id = p_stream_id;
    PERFORM {schema}.record_lifecycle_event(
        'StreamDeleted', jsonb_build_object('stream_id', p_stream_id, 'version', kept),
        operation);
    RETURN kept;
END
$$;

REVOKE ALL ON FUNCTION {schema}.delete_stream(text, uuid) FROM PUBLIC;

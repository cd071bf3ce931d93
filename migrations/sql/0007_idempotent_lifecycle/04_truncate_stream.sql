-- truncate_stream with an operation id: a retry after a lost reply returns the
-- first attempt's first version and records no second StreamTruncated event.
-- Without one it works as before; it replaces truncate_stream(text, bigint),
-- keeping its grants (the revision's Python step moves them, then drops the old
-- function).
CREATE FUNCTION {schema}.truncate_stream(
    p_stream_id text, p_before bigint, p_operation uuid DEFAULT NULL
) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    operation uuid := coalesce(p_operation, gen_random_uuid());
    current_version bigint;
    first bigint;
    recorded jsonb;
BEGIN
    IF p_stream_id = '$lifecycle' THEN
        RAISE EXCEPTION 'The audit stream $lifecycle cannot be truncated' USING ERRCODE = 'ES005';
    END IF;
    SELECT version INTO current_version
      FROM {schema}.streams WHERE stream_id = p_stream_id FOR UPDATE;
    IF current_version IS NULL THEN
        RAISE EXCEPTION 'Stream not found: %', p_stream_id USING ERRCODE = 'ES004';
    END IF;
    -- After the row lock, as in delete_stream.
    recorded := {schema}.recorded_operation(operation);
    IF recorded IS NOT NULL THEN
        RETURN (recorded ->> 'before_version')::bigint;
    END IF;
    IF p_before < 1 OR p_before > current_version + 1 THEN
        RAISE EXCEPTION 'Cannot truncate % before version %: its version is %',
            p_stream_id, p_before, current_version USING ERRCODE = 'ES005';
    END IF;
    UPDATE {schema}.streams SET first_version = greatest(first_version, p_before)
     WHERE stream_id = p_stream_id
    RETURNING first_version INTO first;
    DELETE FROM {schema}.snapshots WHERE stream_id = p_stream_id AND version < first - 1;
    PERFORM {schema}.record_lifecycle_event(
        'StreamTruncated', jsonb_build_object('stream_id', p_stream_id, 'before_version', first),
        operation);
    RETURN first;
END
$$;

REVOKE ALL ON FUNCTION {schema}.truncate_stream(text, bigint, uuid) FROM PUBLIC;

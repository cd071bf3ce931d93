-- Soft delete: the stream reads as empty from now on; its version is kept, so
-- it can be recreated only from the next version; its events stay in the
-- global log (projections still see them) until archive_streams moves them.
-- The stream's snapshot goes too.
CREATE FUNCTION {schema}.delete_stream(p_stream_id text) RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    kept bigint;
BEGIN
    IF p_stream_id = '$lifecycle' THEN
        RAISE EXCEPTION 'The audit stream $lifecycle cannot be deleted' USING ERRCODE = 'ES005';
    END IF;
    UPDATE {schema}.streams SET first_version = version + 1, deleted_at = now()
     WHERE stream_id = p_stream_id
    RETURNING version INTO kept;
    IF kept IS NULL THEN
        RAISE EXCEPTION 'Stream not found: %', p_stream_id USING ERRCODE = 'ES004';
    END IF;
    -- A snapshot would let a repository load what reads no longer return.
    DELETE FROM {schema}.snapshots WHERE stream_id = p_stream_id;
    PERFORM {schema}.record_lifecycle_event(
        'StreamDeleted', jsonb_build_object('stream_id', p_stream_id, 'version', kept));
    RETURN kept;
END
$$;

REVOKE ALL ON FUNCTION {schema}.delete_stream(text) FROM PUBLIC;

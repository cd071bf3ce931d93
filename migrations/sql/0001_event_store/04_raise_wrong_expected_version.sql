-- Raised when a stream is not at the version an append expected. The DETAIL
-- carries the values as JSON for the client to build its ConcurrencyError.
CREATE FUNCTION {schema}.raise_wrong_expected_version(p_stream_id text, p_expected bigint)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    actual bigint := coalesce(
        (SELECT s.version FROM {schema}.streams s WHERE s.stream_id = p_stream_id), 0);
    expected text := CASE p_expected
        WHEN -1 THEN 'any'
        WHEN -2 THEN 'stream exists'
        WHEN -3 THEN 'no stream'
        ELSE p_expected::text
    END;
BEGIN
    RAISE EXCEPTION 'Wrong expected version: % (stream: %, stream version: %)',
        expected, p_stream_id, actual
        USING ERRCODE = 'ES001',
              DETAIL = json_build_object(
                  'stream_id', p_stream_id, 'expected', expected, 'actual', actual)::text;
END
$$;

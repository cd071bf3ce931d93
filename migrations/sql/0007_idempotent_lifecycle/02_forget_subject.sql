-- forget_subject with an operation id: a retry of a forget whose reply was
-- lost (the connection dropped after COMMIT) returns true, as the first
-- attempt did, and records no second SubjectForgotten event.
DROP FUNCTION {schema}.forget_subject(text);

CREATE FUNCTION {schema}.forget_subject(p_subject text, p_operation uuid) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM {schema}.subject_keys WHERE subject = p_subject;
    IF NOT FOUND THEN
        -- Checked after the DELETE: when the first attempt is still running, the
        -- DELETE waits for its row lock, and this statement's snapshot, taken
        -- afterwards, sees the audit event it committed.
        RETURN {schema}.recorded_operation(p_operation) IS NOT NULL;
    END IF;
    DELETE FROM {schema}.snapshots
     WHERE stream_id IN (SELECT e.stream_id FROM {schema}.events e
                          WHERE e.data ? '$personal'
                            AND e.data -> '$personal' ->> 'subject' = p_subject
                         UNION
                         SELECT a.stream_id FROM {schema}.events_archive a
                          WHERE a.data ? '$personal'
                            AND a.data -> '$personal' ->> 'subject' = p_subject);
    PERFORM {schema}.record_lifecycle_event(
        'SubjectForgotten', jsonb_build_object('subject', p_subject), p_operation);
    RETURN true;
END
$$;

REVOKE ALL ON FUNCTION {schema}.forget_subject(text, uuid) FROM PUBLIC;

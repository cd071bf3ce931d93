-- forget_subject with an operation id: a retry of a forget whose reply was
-- lost (the connection dropped after COMMIT) returns true, as the first
-- attempt did, and records no second SubjectForgotten event. Without an
-- operation id (a process of the previous code, during a rolling upgrade) it
-- works as before. A retry of a first attempt that found no key (which records
-- nothing) forgets whatever key the subject has by then. It replaces
-- forget_subject(text), keeping its grants (the revision's Python step moves
-- them, then drops the old function).
CREATE FUNCTION {schema}.forget_subject(p_subject text, p_operation uuid DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    operation uuid := coalesce(p_operation, gen_random_uuid());
BEGIN
    -- Before the DELETE: a first attempt that committed, after which the subject
    -- got a new key (a later append), must not cost that new key.
    IF {schema}.recorded_operation(operation) IS NOT NULL THEN
        RETURN true;
    END IF;
    DELETE FROM {schema}.subject_keys WHERE subject = p_subject;
    IF NOT FOUND THEN
        -- And after it: when the first attempt is still running, the DELETE
        -- waits for its row lock, and this statement's snapshot, taken
        -- afterwards, sees the audit event it committed.
        RETURN {schema}.recorded_operation(operation) IS NOT NULL;
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
        'SubjectForgotten', jsonb_build_object('subject', p_subject), operation);
    RETURN true;
EXCEPTION WHEN unique_violation THEN
    -- The first attempt committed between this call's first check and its
    -- audit event, and the subject got a new key meanwhile: undo (the new key
    -- stays) and answer as the first attempt did.
    IF {schema}.recorded_operation(operation) IS NOT NULL THEN
        RETURN true;
    END IF;
    RAISE;
END
$$;

REVOKE ALL ON FUNCTION {schema}.forget_subject(text, uuid) FROM PUBLIC;

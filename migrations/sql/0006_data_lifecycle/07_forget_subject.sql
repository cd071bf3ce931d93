-- Crypto-shredding: destroy a subject's key (the row is deleted, not flagged).
-- Every personal field sealed under it reads as redacted from then on. The
-- snapshots of the streams holding the subject's sealed fields go too (they
-- may hold those fields in clear); aggregates then replay, redacted.
CREATE FUNCTION {schema}.forget_subject(p_subject text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    DELETE FROM {schema}.subject_keys WHERE subject = p_subject;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    -- Archived events count too: a stream truncated and archived may keep a
    -- snapshot taken while its personal events were still read.
    DELETE FROM {schema}.snapshots
     WHERE stream_id IN (SELECT e.stream_id FROM {schema}.events e
                          WHERE e.data ? '$personal'
                            AND e.data -> '$personal' ->> 'subject' = p_subject
                         UNION
                         SELECT a.stream_id FROM {schema}.events_archive a
                          WHERE a.data ? '$personal'
                            AND a.data -> '$personal' ->> 'subject' = p_subject);
    PERFORM {schema}.record_lifecycle_event(
        'SubjectForgotten', jsonb_build_object('subject', p_subject));
    RETURN true;
END
$$;

REVOKE ALL ON FUNCTION {schema}.forget_subject(text) FROM PUBLIC;

-- A helper for this revision only (pg_temp: gone when the migration's session
-- ends): the EXECUTE grants of one function copied to another, so replacing
-- a function keeps what `escore roles` (or you) granted on it, e.g. an
-- application role's right to forget_subject.
CREATE FUNCTION pg_temp.copy_execute_grants(p_from regprocedure, p_to regprocedure)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    grantee oid;
BEGIN
    FOR grantee IN
        SELECT a.grantee FROM pg_catalog.pg_proc p, aclexplode(p.proacl) a
         WHERE p.oid = p_from AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner
    LOOP
        IF grantee = 0 THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO PUBLIC', p_to);
        ELSE
            -- regrole's text is the role's name quoted as an identifier already.
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s', p_to, grantee::regrole);
        END IF;
    END LOOP;
END
$$;

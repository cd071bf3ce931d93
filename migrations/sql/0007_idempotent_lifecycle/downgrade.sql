-- Back to revision 0006's functions: the revision's downgrade step has just
-- recreated them from 0006's files (beside these, whose signatures differ);
-- the grants on these move to them before these go.
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
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', p_to, grantee::regrole);
        END IF;
    END LOOP;
END
$$;
SELECT pg_temp.copy_execute_grants(
    '{schema}.forget_subject(text, uuid)'::regprocedure, '{schema}.forget_subject(text)');
SELECT pg_temp.copy_execute_grants(
    '{schema}.delete_stream(text, uuid)'::regprocedure, '{schema}.delete_stream(text)');
SELECT pg_temp.copy_execute_grants(
    '{schema}.truncate_stream(text, bigint, uuid)'::regprocedure,
    '{schema}.truncate_stream(text, bigint)');
DROP FUNCTION pg_temp.copy_execute_grants(regprocedure, regprocedure);
DROP FUNCTION {schema}.truncate_stream(text, bigint, uuid);
DROP FUNCTION {schema}.delete_stream(text, uuid);
DROP FUNCTION {schema}.forget_subject(text, uuid);
DROP FUNCTION {schema}.recorded_operation(uuid);
DROP FUNCTION {schema}.record_lifecycle_event(text, jsonb, uuid);

-- Back to revision 0006's functions: the revision's downgrade step has just
-- recreated them from 0006's files (beside these, whose signatures differ),
-- and the helper of 00_copy_grants.sql; the grants on these move to them
-- before these go.
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

-- The helper of 00_copy_grants.sql has done its work.
DROP FUNCTION pg_temp.copy_execute_grants(regprocedure, regprocedure);

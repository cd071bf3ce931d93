DROP FUNCTION {schema}.read_bound(pg_snapshot);

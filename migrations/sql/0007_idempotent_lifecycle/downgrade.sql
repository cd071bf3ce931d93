-- Back to revision 0006's functions (recreated from its files by the revision's
-- downgrade step after this one). Grants to an application role on the new
-- forget_subject go with it: run `escore roles` again after downgrading.
DROP FUNCTION {schema}.truncate_stream(text, bigint, uuid);
DROP FUNCTION {schema}.delete_stream(text, uuid);
DROP FUNCTION {schema}.forget_subject(text, uuid);
DROP FUNCTION {schema}.recorded_operation(uuid);
DROP FUNCTION {schema}.record_lifecycle_event(text, jsonb, uuid);

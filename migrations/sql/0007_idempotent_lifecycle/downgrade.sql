-- Back to revision 0006: the revision's Python step has recreated 0006's
-- functions, moved the grants onto them and dropped the ones that replaced them.
DROP FUNCTION {schema}.recorded_operation(uuid);
DROP FUNCTION {schema}.record_lifecycle_event(text, jsonb, uuid);

DROP TRIGGER streams_refuse_forged_audit ON {schema}.streams;
DROP TRIGGER events_refuse_forged_audit ON {schema}.events;
DROP FUNCTION {schema}.refuse_forged_audit();

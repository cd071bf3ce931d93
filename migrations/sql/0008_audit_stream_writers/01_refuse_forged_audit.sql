-- The audit stream $lifecycle records every delete, truncate and forget, and
-- who did it. Only the store's lifecycle functions may write it: they run as
-- the owner of the tables (SECURITY DEFINER, owned by the owner role after
-- `escore roles`), so a row of that stream is refused from anyone else. The
-- application role keeps INSERT on events and streams for its appends, but
-- cannot record, or bump the version of, an audit event it did not cause.
-- (Through the store's API no one can: it refuses appends to that stream.)
-- The trigger runs only for rows of that stream (its WHEN), so an append
-- elsewhere pays one text comparison per row.
CREATE FUNCTION {schema}.refuse_forged_audit() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = TG_RELID)
       = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'only the store''s lifecycle operations write the audit stream $lifecycle'
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = format('%s by %s', TG_OP, current_user);
END
$$;

CREATE TRIGGER events_refuse_forged_audit
    BEFORE INSERT ON {schema}.events
    FOR EACH ROW WHEN (NEW.stream_id = '$lifecycle')
    EXECUTE FUNCTION {schema}.refuse_forged_audit();

CREATE TRIGGER streams_refuse_forged_audit
    BEFORE INSERT OR UPDATE ON {schema}.streams
    FOR EACH ROW WHEN (NEW.stream_id = '$lifecycle')
    EXECUTE FUNCTION {schema}.refuse_forged_audit();

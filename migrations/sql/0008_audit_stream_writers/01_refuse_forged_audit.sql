-- The audit stream $lifecycle records every delete, truncate and forget, and
-- who did it; projections follow its category (the sample UserDirectory
-- scrubs a user on SubjectForgotten). Only the store's lifecycle functions
-- may write that category: they run as the owner of their definition
-- (SECURITY DEFINER: the tables' owner after `escore roles`, or a superuser
-- who migrated since), so a row of that category is refused from anyone who
-- is neither a superuser nor has the tables' owner's privileges. The
-- application role keeps INSERT on events and streams for its appends, but
-- cannot record, or renumber, an audit event it did not cause, in
-- $lifecycle or in any $lifecycle-... stream. (Through the store's API no one
-- can: it refuses appends to that category.) The WHEN runs for every row
-- (one split_part and one comparison); the function only for that category.
CREATE FUNCTION {schema}.refuse_forged_audit() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- True for a superuser too: a superuser has every role's privileges.
    IF pg_catalog.pg_has_role(
           current_user,
           (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = TG_RELID),
           'USAGE') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'only the store''s lifecycle operations write the audit stream $lifecycle'
        USING ERRCODE = 'insufficient_privilege',
              DETAIL = format('%s of stream %s by %s', TG_OP, NEW.stream_id, current_user);
END
$$;

CREATE TRIGGER events_refuse_forged_audit
    BEFORE INSERT ON {schema}.events
    FOR EACH ROW WHEN (split_part(NEW.stream_id, '-', 1) = '$lifecycle')
    EXECUTE FUNCTION {schema}.refuse_forged_audit();

CREATE TRIGGER streams_refuse_forged_audit
    BEFORE INSERT OR UPDATE ON {schema}.streams
    FOR EACH ROW WHEN (split_part(NEW.stream_id, '-', 1) = '$lifecycle')
    EXECUTE FUNCTION {schema}.refuse_forged_audit();

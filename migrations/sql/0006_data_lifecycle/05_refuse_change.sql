-- The events table stays append-only, with one exception: archive_streams
-- moves events to events_archive. It may DELETE from events only while it
-- runs as the table's owner (a SECURITY DEFINER function owned by the owner
-- role) AND has set escore.archiving for its own transaction. Anyone can set
-- that setting, but only the owner passes the first test, and the application
-- role has no DELETE privilege to begin with; a plain DELETE by the owner is
-- still refused, so an operator's slip cannot remove events.
CREATE OR REPLACE FUNCTION {schema}.refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'events'
       AND current_setting('escore.archiving', true) = 'on'
       AND (SELECT c.relowner FROM pg_catalog.pg_class c WHERE c.oid = TG_RELID)
           = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION '%.% is append-only: % is not allowed', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'ES003';
END
$$;

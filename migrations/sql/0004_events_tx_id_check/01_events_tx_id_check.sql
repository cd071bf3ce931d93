-- An event's tx_id is always the id of the transaction that inserted it. The
-- global log's gap-safety rests on it (readers pass a transaction id only once
-- every transaction below it has finished): a raw INSERT that set tx_id itself
-- (to a small number, or one far ahead) could hide events from every reader
-- forever, or sort new events before ones readers have passed. The column's
-- default already fills it in; this refuses any other value.
--
-- NOT VALID: rows written before this revision were written by their own
-- transactions (there was no other way through the store) and are not
-- rechecked (the check could not pass for them anyway: their transactions
-- are over). pg_dump writes a NOT VALID constraint after the data, so a dump
-- restores; a logical-replication subscriber of this table must drop it.
ALTER TABLE {schema}.events
    ADD CONSTRAINT events_tx_id_is_the_writers
    CHECK (tx_id = pg_current_xact_id()::text::bigint) NOT VALID;

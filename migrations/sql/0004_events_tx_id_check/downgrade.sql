ALTER TABLE {schema}.events DROP CONSTRAINT events_tx_id_is_the_writers;

DROP TABLE {schema}.checkpoints;
DROP FUNCTION {schema}.append_to_stream(text, bigint, uuid[], text[], integer[], jsonb[], jsonb[], timestamptz[], boolean);
DROP FUNCTION {schema}.replayed_append(text, bigint, uuid[], text[], jsonb[]);
DROP FUNCTION {schema}.raise_wrong_expected_version(text, bigint);
DROP TABLE {schema}.events;
DROP FUNCTION {schema}.refuse_change();
DROP TABLE {schema}.streams;

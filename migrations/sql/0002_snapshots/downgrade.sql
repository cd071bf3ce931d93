DROP TABLE {schema}.snapshots;

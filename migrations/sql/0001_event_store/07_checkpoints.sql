-- Where each projection (or relay) has read the global log up to. A worker
-- updates its row in the same transaction as its read-model writes.
CREATE TABLE {schema}.checkpoints (
    name       text        NOT NULL,
    tx_id      bigint      NOT NULL DEFAULT 0,
    position   bigint      NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT checkpoints_pkey PRIMARY KEY (name)
);

-- Events a projection gave up on (after its retries) under the "park" policy.
-- The projection went on past them; `retry` applies them again later.
CREATE TABLE {schema}.parked_events (
    projection text        NOT NULL,
    event_id   uuid        NOT NULL,
    tx_id      bigint      NOT NULL,
    position   bigint      NOT NULL,
    stream_id  text        NOT NULL,
    version    bigint      NOT NULL,
    event_type text        NOT NULL,
    error      text        NOT NULL,
    attempts   integer     NOT NULL,
    parked_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT parked_events_pkey PRIMARY KEY (projection, event_id)
);

-- Events a side-effect handler has acted on (an email sent, a message
-- published), recorded in the same transaction as its checkpoint, so a
-- redelivered event is recognised and not acted on twice.
CREATE TABLE {schema}.processed_events (
    handler      text        NOT NULL,
    event_id     uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT processed_events_pkey PRIMARY KEY (handler, event_id)
);

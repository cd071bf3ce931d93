-- One data key per subject (a user id, say) for crypto-shredding: events keep
-- that subject's personal fields encrypted under it (eventsourcing_core/crypto.py).
-- Forgetting a subject DELETEs its row (forget_subject); nothing flags it. The
-- deleted tuple stays in the table's pages until VACUUM reclaims them, and in
-- WAL, base backups and replicas for as long as those are kept: erasure is
-- complete once the operator's VACUUM and backup retention have run.
CREATE TABLE {schema}.subject_keys (
    subject    text        NOT NULL,
    key_id     uuid        NOT NULL,
    secret     bytea       NOT NULL CHECK (octet_length(secret) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT subject_keys_pkey PRIMARY KEY (subject)
);

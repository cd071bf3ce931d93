-- Which version of each projection readers see. A new version is rebuilt
-- beside the live one (its own tables, its own checkpoint); the switch moves
-- this row and the views named after the projection's tables in one
-- transaction, so readers never see an empty or half-built read model.
CREATE TABLE {schema}.projection_versions (
    name         text        NOT NULL,
    live_version integer     NOT NULL,
    switched_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT projection_versions_pkey PRIMARY KEY (name)
);

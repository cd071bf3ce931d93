-- Refuse to destroy data that only this revision holds: dropping subject_keys
-- would forget every subject at once (no SubjectForgotten events), dropping
-- events_archive would lose the archived events. Empty them first, knowingly.
DO $$
BEGIN
    IF EXISTS (SELECT FROM {schema}.subject_keys) OR EXISTS (SELECT FROM {schema}.events_archive)
    THEN
        RAISE EXCEPTION 'downgrading below revision 0006 would destroy every subject key '
            '(erasing all personal data) and the archived events: empty {schema}.subject_keys '
            'and {schema}.events_archive first if that is what you want'
            USING ERRCODE = 'ES005';
    END IF;
END
$$;
DROP FUNCTION {schema}.archive_streams(text, bigint);
DROP FUNCTION {schema}.truncate_stream(text, bigint);
DROP FUNCTION {schema}.delete_stream(text);
DROP FUNCTION {schema}.forget_subject(text);
DROP FUNCTION {schema}.record_lifecycle_event(text, jsonb);
CREATE OR REPLACE FUNCTION {schema}.refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%.% is append-only: % is not allowed', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'ES003';
END
$$;
DROP TABLE {schema}.events_archive;
ALTER TABLE {schema}.streams DROP COLUMN deleted_at, DROP COLUMN first_version;
DROP INDEX {schema}.events_personal_subject_idx;
DROP TABLE {schema}.subject_keys;

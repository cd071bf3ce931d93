-- Which events hold a subject's sealed personal fields: forget_subject finds
-- the streams whose snapshots it must drop (a snapshot is derived state and
-- may hold the fields in clear), and an operator can answer "what do we hold
-- on this person". Partial: only events with personal fields are indexed.
CREATE INDEX events_personal_subject_idx ON {schema}.events ((data -> '$personal' ->> 'subject'))
    WHERE data ? '$personal';

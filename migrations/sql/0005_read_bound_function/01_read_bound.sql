-- The read bound B of the global log, and whether its per-database premise
-- holds, for the snapshot S of the statement that reads (the rule and its proof
-- are in eventsourcing_core/postgres/statements.py). Pass the reading
-- statement's own pg_current_snapshot(): the activity scan below then runs
-- after S was taken, as the proof needs.
--
-- A function, not a sub-select written into every reading statement, because
-- PostgreSQL sets up a sub-select's plan nodes on every execution even when no
-- row needs the bound (a page below xmin(S), a poll at a quiet head): that cost
-- 12 to 18 us of server time per statement. A call costs nothing until a row
-- needs it. PL/pgSQL, not SQL: it keeps its query's plan for the session, where
-- a SQL function with this body is planned again at each call (measured: a read
-- that needs the bound took 144 us with this, 389 us with the SQL function).
-- STABLE: it sees the caller's snapshot and takes none of its own.
CREATE FUNCTION {schema}.read_bound(
    snapshot         pg_snapshot,
    OUT tx_id        bigint,
    OUT per_database boolean
)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    own         xid8 := pg_current_xact_id_if_assigned();
    oldest      xid8;
    oldest_here xid8;
BEGIN
    -- The oldest xid in xip(S), of all and of those not positively seen running
    -- in another database (one pass over xip). This backend's own activity row
    -- gives this database's oid: no catalog table to lock.
    SELECT min(x),
           min(x) FILTER (WHERE x::xid NOT IN (
               SELECT a.backend_xid FROM pg_stat_get_activity(NULL) AS a
                WHERE a.backend_xid IS NOT NULL
                  AND a.datid <> (SELECT b.datid FROM pg_stat_get_activity(pg_backend_pid()) AS b)
               UNION ALL
               SELECT p.transaction FROM pg_prepared_xact() AS p
                WHERE p.dbid <> (SELECT b.datid FROM pg_stat_get_activity(pg_backend_pid()) AS b)))
      INTO oldest, oldest_here
      FROM pg_snapshot_xip(snapshot) AS x;
    -- On a primary a snapshot's xmin is exactly this; otherwise (a hot standby)
    -- the bound falls back to the cluster-wide xmin.
    per_database := pg_snapshot_xmin(snapshot)
                    = least(pg_snapshot_xmax(snapshot), own, oldest);
    tx_id := (CASE WHEN per_database
                   THEN least(pg_snapshot_xmax(snapshot), own, oldest_here)
                   ELSE pg_snapshot_xmin(snapshot) END)::text::bigint;
END
$$;

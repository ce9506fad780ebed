-- pcsync PostgreSQL schema, version 4: less to do per posture loaded
-- (BENCHMARKS.md, issue 15).
--
-- The counts tables keep half of each page free. A sync updates every
-- counts row of a batch's keys in each of its transactions (a first load
-- of 1M postures: about 200 updates of each of 1,000 counts_control rows);
-- with full pages no new row version fits beside the old, so each update
-- added an entry to every index of the table and later lookups walked the
-- dead ones (10,000 blocks read per batch's counts statement). With room on
-- the page the update is HOT (no index entry) and the page prunes its dead
-- versions itself. The setting applies to pages written from now on.
ALTER TABLE counts_host SET (fillfactor = 50);
ALTER TABLE counts_control SET (fillfactor = 50);
ALTER TABLE counts_policy SET (fillfactor = 50);
ALTER TABLE current_hosts SET (fillfactor = 50);

-- Two posture indexes fewer to build at the end of a first load. A
-- host's postures are read policy by policy, each one range of
-- postures_natural (the policies from counts_host, as SQLite reads them),
-- so postures_host served nothing else; and the whole table is read in
-- its key order (policy, id), so postures_id served nothing at all.
DROP INDEX IF EXISTS postures_host;
DROP INDEX IF EXISTS postures_id;

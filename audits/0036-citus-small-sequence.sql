-- id: citus-small-sequence
-- title: Citus: a table to distribute draws ids from a sequence smaller than bigint
-- severity: warning
-- kind: catalog
-- target: citus
-- remediation: Make the column and its sequence bigint (ALTER TABLE … ALTER COLUMN id TYPE bigint, a rewrite: plan a maintenance window; then ALTER SEQUENCE … AS bigint). Nothing to do if every insert goes through the coordinator.
--
-- Sequences are not a blocker for create_distributed_table: inserts through the coordinator draw
-- from the coordinator's sequence, so ids never collide across shards. Citus docs (SQL Support and
-- Workarounds): a sequence used on a distributed table is also usable on the workers, where Citus
-- puts the node's id in the high bits of every value it generates — which only works for bigint
-- sequences; with a smaller one (serial, an integer identity) an insert run on a worker node fails.
-- Reported as a warning for the day the application writes through the workers.
SELECT c.relname::text AS table_name, a.attname::text AS object, NULL::bigint AS count, NULL::text[] AS samples,
       format('%s.%s (%s) takes its values from sequence %s.%s (%s): inserts through the coordinator work, inserts run on a worker node fail (Citus puts the node id in the high bits of worker-generated values only for bigint)',
              c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), sn.nspname, s.relname,
              pg_catalog.format_type(sq.seqtypid, NULL)) AS message,
       NULL::text AS severity
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  JOIN pg_catalog.pg_depend d ON d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = c.oid AND d.refobjsubid = a.attnum
   AND d.classid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a', 'i')
  JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S'
  JOIN pg_catalog.pg_namespace sn ON sn.oid = s.relnamespace
  JOIN pg_catalog.pg_sequence sq ON sq.seqrelid = s.oid
 WHERE n.nspname = :'schema' AND c.relname = ANY (:'distributed_tables'::text[]) AND c.relkind IN ('r', 'p')
   AND sq.seqtypid <> 'pg_catalog.int8'::regtype
 ORDER BY 1, 2;

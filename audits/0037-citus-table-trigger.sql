-- id: citus-table-trigger
-- title: Citus: a table to distribute (or make a reference table) has triggers
-- severity: error
-- kind: catalog
-- target: citus
-- remediation: Drop the trigger before distributing and do its work in the application or a job; or, if it only touches the row itself (or co-located rows of the same tenant), set citus.enable_unsafe_triggers = on for the distribute phase and waive this finding: Citus then runs it on each shard, and you answer for what it does there.
--
-- Citus 13.2.2 refuses to distribute a table with triggers (`cannot distribute relation … because it
-- has triggers`, measured for distributed and reference tables) unless citus.enable_unsafe_triggers
-- is on: a trigger runs on the shard, where a query of another table may reach the wrong node.
-- Internal triggers (foreign keys) do not count.
SELECT c.relname::text AS table_name, t.tgname::text AS object, NULL::bigint AS count, NULL::text[] AS samples,
       format('trigger %s on %s (%s): create_%s_table refuses a table with triggers', t.tgname, c.relname,
              pg_catalog.pg_get_triggerdef(t.oid, true),
              CASE WHEN c.relname = ANY (:'reference_tables'::text[]) THEN 'reference' ELSE 'distributed' END) AS message,
       NULL::text AS severity
  FROM pg_catalog.pg_trigger t
  JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = :'schema' AND (c.relname = ANY (:'distributed_tables'::text[]) OR c.relname = ANY (:'reference_tables'::text[]))
   AND c.relkind IN ('r', 'p') AND NOT t.tgisinternal
 ORDER BY 1, 2;

-- id: citus-foreign-key-placement
-- title: Citus: a foreign key between a table to distribute and a table that stays on the coordinator
-- severity: error
-- kind: catalog
-- target: citus
-- remediation: A scoped table referencing an exempt lookup table: mark it `reference: true` under `exempt:` (`roles: {reason: …, reference: true}`), so it is copied to every node. A table referencing a scoped table: scope it too (list it under `tables:`), or drop the foreign key and check the reference in the application.
--
-- Citus keeps three kinds of tables: distributed (sharded by the tenant column), reference (copied
-- to every node) and local (on the coordinator only). A distributed table may reference a
-- distributed or a reference table, never a local one; a reference or local table may never
-- reference a distributed table (`foreign keys from reference tables and local tables to
-- distributed tables are not supported`). An exempt table that references a scoped table (a login
-- session pointing at its user) cannot stay exempt once the users are distributed.
WITH dist AS (
  SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = :'schema' AND c.relname = ANY (:'distributed_tables'::text[]) AND c.relkind IN ('r', 'p')
), ref AS (
  SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = :'schema' AND c.relname = ANY (:'reference_tables'::text[]) AND c.relkind IN ('r', 'p')
)
SELECT CASE WHEN cn.nspname = :'schema' THEN child.relname::text ELSE format('%s.%s', cn.nspname, child.relname) END AS table_name,
       fk.conname::text AS object, NULL::bigint AS count, NULL::text[] AS samples,
       CASE WHEN fk.conrelid IN (SELECT oid FROM dist)
            THEN format('foreign key %s: %s (distributed) references %s.%s, which would stay a local table on the coordinator: Citus refuses a foreign key from a distributed table to a local one',
                        fk.conname, child.relname, pn.nspname, parent.relname)
            ELSE format('foreign key %s: %s.%s (%s) references %s, which is distributed: Citus refuses a foreign key from a reference or local table to a distributed one',
                        fk.conname, cn.nspname, child.relname,
                        CASE WHEN fk.conrelid IN (SELECT oid FROM ref) THEN 'a reference table' ELSE 'a local table' END, parent.relname)
       END AS message,
       NULL::text AS severity
  FROM pg_catalog.pg_constraint fk
  JOIN pg_catalog.pg_class child ON child.oid = fk.conrelid
  JOIN pg_catalog.pg_namespace cn ON cn.oid = child.relnamespace
  JOIN pg_catalog.pg_class parent ON parent.oid = fk.confrelid
  JOIN pg_catalog.pg_namespace pn ON pn.oid = parent.relnamespace
 WHERE fk.contype = 'f' AND child.relispartition IS NOT TRUE
   AND ((fk.conrelid IN (SELECT oid FROM dist) AND fk.confrelid NOT IN (SELECT oid FROM dist) AND fk.confrelid NOT IN (SELECT oid FROM ref))
     OR (fk.conrelid NOT IN (SELECT oid FROM dist) AND fk.confrelid IN (SELECT oid FROM dist)))
 ORDER BY 1, 2;

-- id: citus-shared-rows-table
-- title: Citus: a shared_rows table cannot be distributed by the tenant column
-- severity: error
-- kind: catalog
-- target: citus
-- remediation: Split the table: the shared rows into an exempt table marked `reference: true` (copied to every node), the tenant's own rows in the scoped table with a NOT NULL tenant; or give each tenant its own copy of the shared rows.
--
-- A shared_rows table keeps its shared rows with a NULL tenant, and Citus refuses NULL in a
-- distribution column (`the partition column of table … cannot be NULL`, measured): neither
-- create_distributed_table nor a later insert of a shared row works.
SELECT c.relname::text AS table_name, NULL::text AS object, NULL::bigint AS count, NULL::text[] AS samples,
       format('%s is shared_rows (a NULL %s is a row every tenant reads): Citus refuses NULL in the distribution column', c.relname, :'tenant_column') AS message,
       NULL::text AS severity
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = :'schema' AND c.relname = ANY (:'shared_tables'::text[]) AND c.relkind IN ('r', 'p')
 ORDER BY 1, 2;

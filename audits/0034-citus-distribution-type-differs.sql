-- id: citus-distribution-type-differs
-- title: Citus: a tenant column's exact type or collation differs from the tenant key's
-- severity: error
-- kind: catalog
-- target: citus
-- remediation: Change the column to exactly the tenant key's type (not a domain over it) and collation (ALTER TABLE … ALTER COLUMN … TYPE …, a rewrite: plan a maintenance window) before distributing.
--
-- Co-located tables must have distribution columns of the same type and the same collation: Citus
-- compares the type's oid, so a domain over integer beside integer, or a text column with another
-- collation, is refused (`cannot colocate tables … Distribution column types don't match`), even
-- where tenant-column-type-mismatch (which reads a domain as its base type) is content. Every
-- table to distribute is compared with the tenant key.
WITH k AS (
  SELECT a.atttypid, a.attcollation, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type
    FROM pg_catalog.pg_attribute a
    JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = :'schema' AND c.relname = :'tenant_table' AND a.attname = :'tenant_key' AND a.attnum > 0 AND NOT a.attisdropped
)
SELECT c.relname::text AS table_name, a.attname::text AS object, NULL::bigint AS count, NULL::text[] AS samples,
       format('%s.%s is %s%s, the tenant key %s.%s is %s%s: Citus cannot co-locate them',
              c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
              CASE WHEN a.attcollation <> 0 THEN format(' (collation %s)', (SELECT collname FROM pg_catalog.pg_collation WHERE oid = a.attcollation)) ELSE '' END,
              :'tenant_table', :'tenant_key', k.type,
              CASE WHEN k.attcollation <> 0 THEN format(' (collation %s)', (SELECT collname FROM pg_catalog.pg_collation WHERE oid = k.attcollation)) ELSE '' END) AS message,
       NULL::text AS severity
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = :'tenant_column' AND a.attnum > 0 AND NOT a.attisdropped
 CROSS JOIN k
 WHERE n.nspname = :'schema' AND c.relname = ANY (:'distributed_tables'::text[]) AND c.relname <> :'tenant_table' AND c.relkind IN ('r', 'p')
   AND (a.atttypid <> k.atttypid OR a.attcollation <> k.attcollation)
 ORDER BY 1, 2;

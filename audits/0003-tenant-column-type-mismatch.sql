-- id: tenant-column-type-mismatch
-- title: Tenant column type differs from the tenant key
-- severity: error
-- kind: catalog
-- remediation: Change the column to the tenant key's type (a table rewrite: plan a maintenance window, or add a new column of the right type, backfill it and swap).
--
-- A tenant column typed differently from the tenant key (bigint vs integer, text vs uuid) breaks
-- foreign keys to the tenant table, composite keys, index use in policies, and Citus co-location.
-- A domain compares as its base type (a `tenant_id` domain over uuid beside a uuid column is fine).
WITH k AS (
  SELECT CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END AS atttypid,
         CASE WHEN t.typtype = 'd' THEN t.typtypmod ELSE a.atttypmod END AS atttypmod,
         pg_catalog.format_type(a.atttypid, a.atttypmod) AS type
    FROM pg_catalog.pg_attribute a
    JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
    JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = :'schema' AND c.relname = :'tenant_table' AND a.attname = :'tenant_key' AND a.attnum > 0 AND NOT a.attisdropped
)
SELECT c.relname::text AS table_name, NULL::text AS object, NULL::bigint AS count, NULL::text[] AS samples,
       format('%s.%s.%s is %s, the tenant key %s.%s is %s', n.nspname, c.relname, a.attname,
              pg_catalog.format_type(a.atttypid, a.atttypmod), :'tenant_table', :'tenant_key', k.type) AS message,
       NULL::text AS severity
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = :'tenant_column' AND a.attnum > 0 AND NOT a.attisdropped
  JOIN pg_catalog.pg_type ct ON ct.oid = a.atttypid
  CROSS JOIN LATERAL (SELECT CASE WHEN ct.typtype = 'd' THEN ct.typbasetype ELSE a.atttypid END AS typid,
                             CASE WHEN ct.typtype = 'd' THEN ct.typtypmod ELSE a.atttypmod END AS typmod) col
  CROSS JOIN k
 WHERE n.nspname = :'schema' AND c.relname = ANY (:'scoped_tables'::text[]) AND c.relkind IN ('r', 'p')
   AND (col.typid <> k.atttypid OR (col.typmod <> k.atttypmod AND k.atttypmod <> -1))
 ORDER BY 1;

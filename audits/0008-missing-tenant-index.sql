-- id: missing-tenant-index
-- title: No valid index led by the tenant column
-- severity: warning
-- kind: catalog
-- remediation: Run `crm-tenancy generate` and `crm-tenancy migrate` (index phase: CREATE INDEX CONCURRENTLY; an INVALID leftover is rebuilt).
--
-- Every policy filters on the tenant column: without an index led by it, every query of every
-- tenant scans the whole table. A composite primary key / unique index led by the column counts;
-- an INVALID index (a failed CREATE INDEX CONCURRENTLY) does not.
SELECT c.relname::text AS table_name, NULL::text AS object, NULL::bigint AS count, NULL::text[] AS samples,
       format('%s.%s has no valid index led by %s%s', n.nspname, c.relname, :'tenant_column',
              CASE WHEN invalid.name IS NOT NULL THEN format(' (%s is INVALID: rebuild it)', invalid.name) ELSE '' END) AS message,
       NULL::text AS severity
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = :'tenant_column' AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN LATERAL (SELECT string_agg(ic.relname, ', ') AS name FROM pg_catalog.pg_index i
                       JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
                      WHERE i.indrelid = c.oid AND i.indkey[0] = a.attnum AND NOT (i.indisvalid AND i.indisready)) invalid ON true
 WHERE n.nspname = :'schema' AND c.relname = ANY (:'scoped_tables'::text[]) AND c.relkind IN ('r', 'p')
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                    WHERE i.indrelid = c.oid AND i.indkey[0] = a.attnum AND i.indisvalid AND i.indisready AND i.indpred IS NULL)
 ORDER BY 1;

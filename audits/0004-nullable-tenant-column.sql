-- id: nullable-tenant-column
-- title: Tenant column allows NULL
-- severity: warning
-- kind: catalog
-- remediation: After `crm-tenancy backfill`, run `crm-tenancy migrate`: the validate phase adds NOT NULL online (CHECK NOT VALID → VALIDATE → SET NOT NULL).
--
-- A nullable tenant column lets rows exist that belong to no tenant: invisible to every tenant
-- under RLS, or leaked wherever code treats NULL as "shared". Tables declared `shared_rows: true`
-- keep the column nullable on purpose (a NULL tenant is a row every tenant reads) and are not reported.
SELECT c.relname::text AS table_name, NULL::text AS object, NULL::bigint AS count, NULL::text[] AS samples,
       format('%s.%s.%s allows NULL', n.nspname, c.relname, a.attname) AS message, NULL::text AS severity
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = :'tenant_column' AND a.attnum > 0 AND NOT a.attisdropped
 WHERE n.nspname = :'schema' AND c.relname = ANY (:'scoped_tables'::text[]) AND c.relkind IN ('r', 'p')
   AND NOT a.attnotnull AND NOT (c.relname = ANY (:'shared_tables'::text[]))
 ORDER BY 1;

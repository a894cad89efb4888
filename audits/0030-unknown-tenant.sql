-- id: unknown-tenant
-- title: Rows whose tenant value names no tenant
-- severity: error
-- kind: data
-- remediation: Decide whose each row is and set its tenant column to an existing tenant (or delete the rows), then add the foreign key to the tenant table (`crm-tenancy generate` and `crm-tenancy migrate` add it NOT VALID and validate it) so no new one can appear.
--
-- Data check, one anti-join per scoped table against the tenant table: rows whose tenant column
-- is not NULL (NULLs are null-tenant's) and matches no tenant key. Skipped where a VALIDATED foreign
-- key from the tenant column to the tenant key proves there are none; scanned where the key is
-- missing or NOT VALID (--deep scans every table). Such rows are invisible to every tenant under
-- RLS, and the first tenant created with that key inherits them.
-- Placeholders, filled with quoted identifiers: {{table}} the table (alias t), {{tenant}} its tenant
-- column, {{key}} its primary key (t.ctid when it has none), {{tenants}} the tenant table,
-- {{tenant_key}} its key, {{cast}} `::text` when the two columns' types cannot be compared as they are.
-- Samples: the first 5 rows found, as (key, tenant value).
-- @count
SELECT count(*) AS c0 FROM {{table}} t
 WHERE t.{{tenant}} IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM {{tenants}} k WHERE k.{{tenant_key}}{{cast}} = t.{{tenant}}{{cast}})
-- @sample
SELECT {{key}} AS k, t.{{tenant}}::text AS tenant FROM {{table}} t
 WHERE t.{{tenant}} IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM {{tenants}} k WHERE k.{{tenant_key}}{{cast}} = t.{{tenant}}{{cast}})
 LIMIT 5

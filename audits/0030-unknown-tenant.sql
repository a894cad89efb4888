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
-- column, {{tenants}} the tenant table (alias k; a DISTINCT subquery of its key when no unique index
-- makes the key unique, so that the join multiplies no row), {{tenant_key}} its key, {{cast}}
-- `::text` when the two columns' types cannot be compared as they are. One part of the table's
-- shared scan (src/audit/data-checks.ts, fuseScans). Samples: the first 5 such rows in table order as
-- (key, tenant value), taken in the same pass. Integer keys (unique) and tenant columns: the join may
-- give way to a direct lookup (src/audit/direct-lookup.ts, @lookup_condition: {{looked_up}} is the
-- key found at position tenant - min + 1 of an array of the tenant table's keys, NULL when none).
-- @join
LEFT JOIN {{tenants}} k ON k.{{tenant_key}}{{cast}} = t.{{tenant}}{{cast}}
-- @condition
t.{{tenant}} IS NOT NULL AND k.{{tenant_key}} IS NULL
-- @lookup_condition
t.{{tenant}} IS NOT NULL AND {{looked_up}} IS NULL

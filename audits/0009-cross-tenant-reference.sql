-- id: cross-tenant-reference
-- title: Rows referencing another tenant's row
-- severity: error
-- kind: data
-- remediation: Run `crm-tenancy backfill --detach-cross-tenant` (nullable FK columns set to NULL, recorded, undoable) or fix the rows by hand; then `tenant.composite_keys: true` and `crm-tenancy migrate` make PostgreSQL forbid it.
--
-- Data check, per foreign key from a scoped table to another scoped table: child rows whose tenant
-- differs from the referenced row's tenant (a Sunstone deal whose contact belongs to nadan). FK
-- and UNIQUE checks ignore row-level security, so PostgreSQL accepts these rows unless the FK
-- includes the tenant column. Evaluated in the one shared scan of the child table; skipped for a
-- validated composite FK (tenant, x) → (tenant, key), which makes such rows impossible.
-- Placeholders: {{table}} child (alias t), {{tenant}} its tenant column, {{parent}} the referenced
-- table (alias {{p}}), {{parent_tenant}} its tenant column, {{join}} the FK's column pairs, {{key}} the child's primary key.
-- @join
LEFT JOIN {{parent}} {{p}} ON {{join}}
-- @count
count(*) FILTER (WHERE {{p}}.{{parent_tenant}} <> t.{{tenant}})
-- @sample
SELECT {{key}} AS k FROM {{table}} t JOIN {{parent}} {{p}} ON {{join}} WHERE {{p}}.{{parent_tenant}} <> t.{{tenant}} LIMIT 5

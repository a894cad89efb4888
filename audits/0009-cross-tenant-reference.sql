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
-- validated composite FK (tenant, x) → (tenant, key), which makes such rows impossible. A NOT VALID
-- composite FK is scanned through its non-tenant columns (rows written before it was added); when
-- those are not unique in the parent, it joins the parent grouped by them (one hash join, no row
-- multiplied) and counts rows whose tenant is none of the referenced rows' tenants.
-- Placeholders: {{table}} child (alias t), {{tenant}} its tenant column, {{parent}} the referenced
-- table (alias {{p}}), {{parent_tenant}} its tenant column, {{join}} the FK's non-tenant column
-- pairs, {{ref_columns}} the parent's side of them, {{key}} the child's primary key (t.ctid when it has none).
-- @join
LEFT JOIN {{parent}} {{p}} ON {{join}}
-- @count
count(*) FILTER (WHERE {{p}}.{{parent_tenant}} <> t.{{tenant}})
-- @grouped
LEFT JOIN (SELECT {{ref_columns}}, array_agg({{p}}.{{parent_tenant}}) FILTER (WHERE {{p}}.{{parent_tenant}} IS NOT NULL) AS crm_tenancy_tenants
             FROM {{parent}} {{p}} GROUP BY {{ref_columns}}) {{p}} ON {{join}}
-- @groupcount
count(*) FILTER (WHERE NOT t.{{tenant}} = ANY ({{p}}.crm_tenancy_tenants))
-- @sample
SELECT {{key}} AS k FROM {{table}} t JOIN {{parent}} {{p}} ON {{join}} WHERE {{p}}.{{parent_tenant}} <> t.{{tenant}} LIMIT 5
-- @groupsample
SELECT {{key}} AS k FROM {{table}} t
 WHERE EXISTS (SELECT 1 FROM {{parent}} {{p}} WHERE {{join}} AND {{p}}.{{parent_tenant}} <> t.{{tenant}})
   AND NOT EXISTS (SELECT 1 FROM {{parent}} {{p}} WHERE {{join}} AND {{p}}.{{parent_tenant}} = t.{{tenant}})
 LIMIT 5

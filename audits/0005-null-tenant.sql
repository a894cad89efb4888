-- id: null-tenant
-- title: Rows whose tenant is NULL
-- severity: error
-- kind: data
-- remediation: Run `crm-tenancy backfill --dry-run`, then `crm-tenancy backfill` (derives the tenant along the manifest's `backfill` foreign keys); rows nothing can place are reported as orphans.
--
-- Data check, one count per scoped table; skipped when the column is NOT NULL (the catalog proves
-- there are none; --deep counts anyway). A B-tree index led by the tenant column stores NULLs, so PostgreSQL answers
-- from the index without reading the table (the usual case: missing-tenant-index asks for one).
-- Placeholders, filled with quoted identifiers: {{table}} the table (alias t), {{tenant}} its tenant
-- column, {{key}} its primary key (t.ctid when it has none). Samples are the first 5 found (no
-- ORDER BY: a sort would cost another full scan).
-- @count
SELECT count(*) AS c0 FROM {{table}} t WHERE t.{{tenant}} IS NULL
-- @sample
SELECT {{key}} AS k FROM {{table}} t WHERE t.{{tenant}} IS NULL LIMIT 5

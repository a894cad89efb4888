-- id: duplicate-within-tenant
-- title: Duplicates of a per-tenant unique key
-- severity: error
-- kind: data
-- remediation: Run `crm-tenancy dedupe --dry-run`, then `crm-tenancy dedupe` (keeps one row per group, re-points references, archives the rest; `crm-tenancy undo RUN_ID` restores them); then `crm-tenancy migrate` adds the unique index.
--
-- Data check, per `unique` column set and `singleton` of the manifest: groups of rows of one tenant
-- with the same key (NULL key values excluded, as a unique index would). Skipped when a valid
-- unique index on a subset of (tenant, key columns) already makes duplicates impossible (--deep
-- queries anyway: a corrupt index can hold duplicates).
-- Placeholders: {{table}} (alias t), {{tenant}}, {{group_by}} the tenant column and key columns,
-- {{not_null}} the key columns' IS NOT NULL conditions.
-- @query
SELECT count(*) AS groups, coalesce(sum(n - 1), 0) AS extra,
       (array_agg(k ORDER BY n DESC, k::text))[1:5] AS samples
  FROM (SELECT jsonb_build_array({{group_by}}) AS k, count(*) AS n
          FROM {{table}} t
         WHERE {{not_null}}
         GROUP BY {{group_by}}
        HAVING count(*) > 1) g

// Plans the fix of views over scoped tables that an application role can read: a definer view shows
// every tenant's rows (its owner's rights), a materialized view ignores row-level security entirely.
import type { LiveContext } from '../config/live-context.js';
import type { Queryable } from '../db/connection.js';

/** A view or materialized view over a scoped table (directly or through other views) that an app role can read. */
export interface ExposedView {
  schema: string;
  name: string;
  materialized: boolean;
  /** App roles that can SELECT from it. */
  readers: string[];
  /** Who holds the SELECT grant the readers use: app roles granted directly, and `PUBLIC`. */
  grantees: string[];
}

export interface ViewStep {
  kind: 'view';
  /** The view's own name (the step's table, for grouping). */
  table: string;
  schema: string;
  materialized: boolean;
  /** `security-invoker` (PostgreSQL 15+, plain views) or `revoke` (older servers, materialized views). */
  fix: 'security-invoker' | 'revoke';
  readers: string[];
  grantees: string[];
}

/**
 * Views and materialized views that read a scoped table (pg_rewrite → pg_depend, followed through
 * views over views), are readable by an app role, and are not fixed yet (a plain view with
 * security_invoker = true is fixed). Catalog reads only.
 */
export async function readExposedViews(db: Queryable, live: LiveContext): Promise<ExposedView[]> {
  const { manifest } = live;
  const r = await db.query<{ schema: string; name: string; kind: string; readers: string[]; grantees: string[] }>(
    `WITH RECURSIVE edges AS (
       SELECT DISTINCT r.ev_class AS view, d.refobjid AS base
         FROM pg_catalog.pg_rewrite r
         JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND d.objid = r.oid
                                    AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid <> r.ev_class
     ), scoped AS (
       SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relname = ANY($2::text[])
     ), over AS (
       SELECT e.view FROM edges e WHERE e.base IN (SELECT oid FROM scoped)
       UNION
       SELECT e.view FROM edges e JOIN over o ON e.base = o.view
     ), roles AS (
       SELECT rolname FROM pg_catalog.pg_roles WHERE rolname = ANY($3::text[])
     )
     SELECT n.nspname AS schema, v.relname AS name, v.relkind AS kind,
            array(SELECT rolname::text FROM roles WHERE pg_catalog.has_table_privilege(rolname, v.oid, 'SELECT') ORDER BY 1) AS readers,
            array(SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(a.grantee)::text END
                    FROM pg_catalog.aclexplode(v.relacl) a
                   WHERE a.privilege_type = 'SELECT' AND (a.grantee = 0 OR pg_catalog.pg_get_userbyid(a.grantee) IN (SELECT rolname FROM roles))
                   ORDER BY 1) AS grantees
       FROM pg_catalog.pg_class v
       JOIN pg_catalog.pg_namespace n ON n.oid = v.relnamespace
      WHERE v.oid IN (SELECT view FROM over) AND v.relkind IN ('v', 'm')
        AND n.nspname NOT IN ('pg_catalog', 'information_schema', $4)
        AND NOT (v.relkind = 'v' AND coalesce(v.reloptions, '{}') && ARRAY['security_invoker=true', 'security_invoker=on', 'security_invoker=1'])
      ORDER BY 1, 2`,
    [manifest.schema, manifest.tables.map((t) => t.name), manifest.roles.app, manifest.stateSchema],
  );
  return r.rows
    .filter((row) => row.readers.length > 0)
    .map((row) => ({ schema: row.schema, name: row.name, materialized: row.kind === 'm', readers: row.readers, grantees: row.grantees }));
}

/** One step per exposed view; a materialized view the manifest exempts (by name, under exempt) is left alone. */
export function viewSteps(live: LiveContext, views: readonly ExposedView[]): ViewStep[] {
  const exempt = new Set(live.manifest.exempt.map((e) => e.name));
  const invoker = live.catalog.serverVersion >= 150000;
  return views
    .filter((v) => !(v.materialized && exempt.has(v.name)))
    .map((v) => ({
      kind: 'view',
      table: v.name,
      schema: v.schema,
      materialized: v.materialized,
      fix: !v.materialized && invoker ? 'security-invoker' : 'revoke',
      readers: v.readers,
      grantees: v.grantees,
    }));
}

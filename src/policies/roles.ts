// Checks the manifest's roles before policies are applied: missing ones are created NOLOGIN, unsafe app roles refused.
import type pg from 'pg';
import type { Manifest } from '../config/manifest.js';
import type { Queryable } from '../db/connection.js';
import { ident, qualified } from '../db/quote.js';

export type RoleProblem = 'superuser' | 'bypassrls' | 'owner' | 'member-of-privileged';

/** Why an application role cannot be trusted with row-level security, and what to run instead. */
export interface RoleRefusal {
  role: string;
  problem: RoleProblem;
  /** What is wrong, in one sentence. */
  detail: string;
  /** The SQL that fixes it. */
  remedy: string;
}

export interface RoleCheck {
  /** Roles of the manifest that do not exist yet. */
  missing: { role: string; kind: 'app' | 'bypass' }[];
  refusals: RoleRefusal[];
}

/**
 * Checks every application role: it must not be superuser or BYPASSRLS (both skip RLS, even when
 * forced), must not own a scoped table or the tenant table (an owner can turn RLS off), and must
 * not be a member of a role that is any of those. Read-only.
 */
export async function checkRoles(db: Queryable, manifest: Manifest): Promise<RoleCheck> {
  const tables = [manifest.tenant.table, ...manifest.tables.map((t) => t.name)];
  const wanted = [
    ...manifest.roles.app.map((role) => ({ role, kind: 'app' as const })),
    ...manifest.roles.bypass.map((b) => ({ role: b.role, kind: 'bypass' as const })),
  ];
  const { rows } = await db.query<{ rolname: string; rolsuper: boolean; rolbypassrls: boolean }>(
    `SELECT rolname, rolsuper, rolbypassrls FROM pg_catalog.pg_roles WHERE rolname = ANY($1::text[])`,
    [wanted.map((w) => w.role)],
  );
  const existing = new Map(rows.map((r) => [r.rolname, r]));
  const missing = wanted.filter((w) => !existing.has(w.role));
  const refusals: RoleRefusal[] = [];
  const me = (await db.query<{ u: string }>(`SELECT current_user AS u`)).rows[0].u;
  for (const role of manifest.roles.app) {
    const r = existing.get(role);
    if (!r) continue;
    if (r.rolsuper) {
      refusals.push({
        role,
        problem: 'superuser',
        detail: `application role ${role} is a superuser: row-level security never applies to it`,
        remedy: `ALTER ROLE ${ident(role)} NOSUPERUSER;`,
      });
    }
    if (r.rolbypassrls) {
      refusals.push({
        role,
        problem: 'bypassrls',
        detail: `application role ${role} has BYPASSRLS: row-level security never applies to it`,
        remedy: `ALTER ROLE ${ident(role)} NOBYPASSRLS;`,
      });
    }
    const owned = await db.query<{ name: string; owner: string }>(
      `SELECT c.relname AS name, pg_catalog.pg_get_userbyid(c.relowner) AS owner
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relname = ANY($2::text[]) AND c.relkind IN ('r', 'p')
          AND pg_catalog.pg_has_role($3, c.relowner, 'MEMBER')
        ORDER BY 1`,
      [manifest.schema, tables, role],
    );
    for (const t of owned.rows) {
      const direct = t.owner === role;
      refusals.push({
        role,
        problem: 'owner',
        detail: direct
          ? `application role ${role} owns ${manifest.schema}.${t.name}: an owner can disable row-level security`
          : `application role ${role} is a member of ${t.owner}, which owns ${manifest.schema}.${t.name}`,
        remedy: direct
          ? `ALTER TABLE ${qualified(manifest.schema, t.name)} OWNER TO ${me === role ? '<a role that is not an application role>' : ident(me)};`
          : `REVOKE ${ident(t.owner)} FROM ${ident(role)};`,
      });
    }
    const privileged = await db.query<{ rolname: string; rolsuper: boolean }>(
      `SELECT r.rolname, r.rolsuper FROM pg_catalog.pg_roles r
        WHERE (r.rolsuper OR r.rolbypassrls) AND r.rolname <> $1 AND pg_catalog.pg_has_role($1, r.oid, 'MEMBER')
        ORDER BY 1`,
      [role],
    );
    for (const p of privileged.rows) {
      refusals.push({
        role,
        problem: 'member-of-privileged',
        detail: `application role ${role} can SET ROLE ${p.rolname}, which ${p.rolsuper ? 'is a superuser' : 'has BYPASSRLS'}`,
        remedy: `REVOKE ${ident(p.rolname)} FROM ${ident(role)};`,
      });
    }
  }
  return { missing, refusals };
}

/** Creates the missing roles NOLOGIN (the DBA gives them LOGIN and a password, or grants them to a login role). */
export async function createMissingRoles(client: pg.ClientBase, missing: RoleCheck['missing']): Promise<void> {
  for (const { role } of missing) {
    await client.query(`CREATE ROLE ${ident(role)} NOLOGIN`);
  }
}

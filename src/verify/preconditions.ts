// What verify checks before any probe: a writable server, a role that reads true counts, the manifest live, two tenants.
import type pg from 'pg';
import type { Manifest } from '../config/manifest.js';
import { resolveLiveContext } from '../config/live-context.js';
import { findColumn, findRelation, type Catalog } from '../db/catalog.js';
import { ident, qualified } from '../db/quote.js';
import { TenancyError } from '../errors.js';
import { citusCoordinator, type CitusFacts } from '../citus/propagation.js';
import { insertableColumns } from './probe-rows.js';
import { assertWritable } from '../db/read-only.js';
import type { TableInfo } from './verify-types.js';

export interface VerifyContext {
  catalog: Catalog;
  tenantInfo: TableInfo;
  a: string;
  b: string;
  /** Set on a Citus coordinator. */
  citus?: CitusFacts;
}

async function checkPrivileges(client: pg.ClientBase, roles: string[]): Promise<void> {
  const { rows } = await client.query<{ me: string; bypass: boolean }>(
    `SELECT current_user AS me, (rolsuper OR rolbypassrls) AS bypass FROM pg_catalog.pg_roles WHERE rolname = current_user`,
  );
  const { me, bypass } = rows[0];
  if (!bypass) {
    throw new TenancyError('privilege', `verify must read the true row counts as a role that bypasses row-level security; ${me} does not`, {
      hint: 'connect as a superuser or a role with BYPASSRLS (FORCE ROW LEVEL SECURITY applies to table owners too)',
    });
  }
  const existing = await client.query<{ rolname: string; member: boolean }>(
    `SELECT rolname, pg_catalog.pg_has_role(current_user, oid, 'MEMBER') AS member FROM pg_catalog.pg_roles WHERE rolname = ANY($1::text[])`,
    [roles],
  );
  const missing = roles.filter((r) => !existing.rows.some((e) => e.rolname === r));
  if (missing.length > 0) {
    throw new TenancyError('manifest-live', `application role(s) ${missing.join(', ')} do not exist`, {
      hint: 'run `crm-tenancy policies apply` (it creates missing roles NOLOGIN), or fix roles.app in the manifest',
    });
  }
  const notMember = existing.rows.filter((e) => !e.member).map((e) => e.rolname);
  if (notMember.length > 0) {
    throw new TenancyError('privilege', `${me} cannot SET ROLE to ${notMember.join(', ')}`, {
      hint: notMember.map((r) => `GRANT ${ident(r)} TO ${ident(me)};`).join(' '),
    });
  }
}

/**
 * On Citus, a query as the application role reaches the workers over connections Citus opens as that
 * role (SET ROLE included): a NOLOGIN role fails every probe with "not permitted to log in".
 */
async function checkCitusLogin(client: pg.ClientBase, roles: string[]): Promise<void> {
  const { rows } = await client.query<{ rolname: string }>(
    `SELECT rolname FROM pg_catalog.pg_roles WHERE rolname = ANY($1::text[]) AND NOT rolcanlogin ORDER BY rolname`,
    [roles],
  );
  if (rows.length === 0) return;
  const names = rows.map((r) => r.rolname);
  throw new TenancyError('privilege', `on Citus the application role(s) ${names.join(', ')} must be able to log in: the coordinator connects to the workers as the role that runs the query`, {
    hint: `${names.map((r) => `ALTER ROLE ${ident(r)} LOGIN;`).join(' ')} (then give the workers its password: pg_dist_authinfo or ~/.pgpass on the coordinator)`,
  });
}

/** The two tenants with the most rows over the scoped tables. */
async function pickTenants(client: pg.ClientBase, manifest: Manifest, catalog: Catalog): Promise<[string, string]> {
  const tenantTable = qualified(manifest.schema, manifest.tenant.table);
  const key = ident(manifest.tenant.key);
  const parts = manifest.tables
    .filter((t) => {
      const rel = findRelation(catalog, manifest.schema, t.name);
      return rel && findColumn(rel, manifest.tenant.column);
    })
    .map((t) => `SELECT ${ident(manifest.tenant.column)} AS t, count(*) AS n FROM ${qualified(manifest.schema, t.name)} GROUP BY 1`);
  const totals = parts.length
    ? `LEFT JOIN (SELECT t, sum(n) AS n FROM (${parts.join(' UNION ALL ')}) x GROUP BY t) s ON s.t = k.${key}`
    : `LEFT JOIN (SELECT NULL::int AS n) s ON false`;
  const { rows } = await client.query<{ t: string }>(
    `SELECT k.${key}::text AS t FROM ${tenantTable} k ${totals} ORDER BY coalesce(s.n, 0) DESC, k.${key} LIMIT 2`,
  );
  if (rows.length < 2) {
    throw new TenancyError('manifest-live', `verify needs two tenants in ${manifest.schema}.${manifest.tenant.table}; found ${rows.length}`, {
      hint: 'create a second tenant (or pass --tenants A,B)',
    });
  }
  return [rows[0].t, rows[1].t];
}

/** Checks that --tenants names two different existing tenants. */
async function checkTenants(client: pg.ClientBase, manifest: Manifest, tenants: [string, string]): Promise<void> {
  const key = ident(manifest.tenant.key);
  const found = await client.query<{ t: string }>(
    `SELECT ${key}::text AS t FROM ${qualified(manifest.schema, manifest.tenant.table)} WHERE ${key}::text = ANY($1::text[])`,
    [tenants],
  );
  const missing = tenants.filter((t) => !found.rows.some((r) => r.t === t));
  if (missing.length > 0 || tenants[0] === tenants[1]) {
    throw new TenancyError('usage', `--tenants needs two different existing tenants; not found: ${missing.join(', ') || '(the same tenant twice)'}`, {
      hint: `tenant keys are ${manifest.schema}.${manifest.tenant.table}.${manifest.tenant.key} values`,
    });
  }
}

/** The probes' view of a manifest table, or undefined when it does not exist. */
export function tableInfo(manifest: Manifest, catalog: Catalog, name: string, isTenantTable: boolean): TableInfo | undefined {
  const rel = findRelation(catalog, manifest.schema, name);
  if (!rel) return undefined;
  const column = isTenantTable ? manifest.tenant.key : manifest.tenant.column;
  const type = findColumn(rel, column)?.type ?? 'text';
  return { name, rel, column, isTenantTable, insertColumns: insertableColumns(rel, column), type };
}

/**
 * Everything that must hold before a probe runs, in order: the server can write (probes write in
 * rolled-back transactions), the connection bypasses RLS and can SET ROLE to every application
 * role, the manifest matches the database, and there are two tenants to probe with.
 */
export async function prepareVerify(client: pg.ClientBase, manifest: Manifest, tenants?: [string, string]): Promise<VerifyContext> {
  await assertWritable(client, 'verify');
  await checkPrivileges(client, manifest.roles.app);
  const live = await resolveLiveContext(client, manifest);
  const tenantInfo = tableInfo(manifest, live.catalog, manifest.tenant.table, true)!;
  if (tenants) await checkTenants(client, manifest, tenants);
  const [a, b] = tenants ?? (await pickTenants(client, manifest, live.catalog));
  const citus = await citusCoordinator(client);
  if (citus) await checkCitusLogin(client, manifest.roles.app);
  return { catalog: live.catalog, tenantInfo, a, b, citus };
}

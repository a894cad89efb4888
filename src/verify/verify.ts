// `verify`: proves tenant isolation live, as each application role, with probes that are always rolled back.
import type pg from 'pg';
import type { Manifest } from '../config/manifest.js';
import { withClient } from '../db/connection.js';
import { findColumn, findRelation, foreignKeys, readCatalog, type Catalog, type CatalogTable } from '../db/catalog.js';
import { ident, qualified } from '../db/quote.js';
import { withRollback } from '../db/transaction.js';
import { TenancyError, isPgServerError } from '../errors.js';
import { silentLogger, type Logger, type ProgressListener } from '../logger.js';

/** The probes run on every table, in matrix order. */
export const PROBES = [
  'select-own',
  'select-no-tenant',
  'insert-other-tenant',
  'update-to-other-tenant',
  'update-other-rows',
  'delete-other-rows',
  'cross-tenant-reference',
  'views',
] as const;
export type ProbeId = (typeof PROBES)[number];

/**
 * pass / fail; `error`: the probe could not decide (counted as a failure); `reported`: a weakness
 * that is not a failure (a cross-tenant reference accepted while composite keys are off);
 * `skipped`: no data to probe with (said why); `n/a`: nothing to probe (no foreign keys, no views).
 */
export type ProbeStatus = 'pass' | 'fail' | 'error' | 'reported' | 'skipped' | 'n/a';

export interface ProbeResult {
  role: string;
  table: string;
  probe: ProbeId;
  status: ProbeStatus;
  detail: string;
}

export interface FunctionProbeResult {
  role: string;
  /** regprocedure text, e.g. public.list_deals(). */
  function: string;
  status: ProbeStatus;
  detail: string;
}

export interface VerifyResult {
  tenants: { a: string; b: string };
  roles: string[];
  tables: string[];
  probes: ProbeResult[];
  functions: FunctionProbeResult[];
  counts: Record<ProbeStatus, number>;
  /** Failures and errors, each naming role, table and probe. */
  failures: { role: string; table: string; probe: string; detail: string }[];
  passed: number;
  failed: number;
  ok: boolean;
}

export interface VerifyOptions {
  databaseUrl?: string;
  /** An open connection to use instead (superuser or BYPASSRLS; not closed). */
  client?: pg.ClientBase;
  manifest: Manifest;
  /** Tenant keys A and B (default: the two tenants with the most rows). */
  tenants?: [string, string];
  logger?: Logger;
  onProgress?: ProgressListener;
}

interface TableInfo {
  name: string;
  rel: CatalogTable;
  /** The compared column (tenant key on the tenant table). */
  column: string;
  isTenantTable: boolean;
  /** Columns an INSERT copies from a template row. */
  insertColumns: string[];
  /** The compared column's type (format_type), so comparisons stay index-friendly. */
  type: string;
}

const RLS_MESSAGE = /row-level security/i;

function errorText(error: unknown): string {
  if (isPgServerError(error)) return `${error.message} (SQLSTATE ${error.code})`;
  return error instanceof Error ? error.message : String(error);
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

function tableInfo(manifest: Manifest, catalog: Catalog, name: string, isTenantTable: boolean): TableInfo | undefined {
  const rel = findRelation(catalog, manifest.schema, name);
  if (!rel) return undefined;
  const column = isTenantTable ? manifest.tenant.key : manifest.tenant.column;
  const pk = new Set(rel.primaryKey ?? []);
  const insertColumns = rel.columns
    .filter((c) => c.name === column || (!c.identity && !c.generated && !(pk.has(c.name) && c.default !== null)))
    .map((c) => c.name);
  const type = findColumn(rel, column)?.type ?? 'text';
  return { name, rel, column, isTenantTable, insertColumns, type };
}

/** Runs one probe transaction: owner setup, then SET LOCAL ROLE (and the tenant), always rolled back. */
async function probeTx<T>(
  client: pg.ClientBase,
  role: string,
  tenant: string | null,
  setting: string,
  setup: (tx: pg.ClientBase) => Promise<void>,
  fn: (tx: pg.ClientBase) => Promise<T>,
  options: { quietTriggers?: boolean } = {},
): Promise<T> {
  return withRollback(
    client,
    async (tx) => {
      await setup(tx);
      if (options.quietTriggers) {
        // Ordinary triggers fire before the policy check and could mask it (a validation trigger
        // raising, a trigger rewriting the tenant): replica mode silences them, RLS still applies.
        // Needs superuser; without it the probe runs with triggers on.
        await tx.query('SAVEPOINT crm_tenancy_replica');
        try {
          await tx.query(`SET LOCAL session_replication_role = replica`);
          await tx.query('RELEASE SAVEPOINT crm_tenancy_replica');
        } catch {
          await tx.query('ROLLBACK TO SAVEPOINT crm_tenancy_replica');
        }
      }
      await tx.query(`SET LOCAL ROLE ${ident(role)}`);
      if (tenant !== null) await tx.query(`SELECT set_config($1, $2, true)`, [setting, tenant]);
      return fn(tx);
    },
    { statementTimeoutMs: 60_000 },
  );
}

/**
 * As the owner, inside the probe transaction: the ctid of a row of `tenant` in the table, inserting
 * a temporary copy of another tenant's row when there is none (nullable foreign keys cleared).
 * Undefined when neither works.
 */
async function rowOf(
  tx: pg.ClientBase,
  ctx: { manifest: Manifest; catalog: Catalog },
  info: TableInfo,
  tenant: string,
  depth = 0,
): Promise<{ ctid: string; temporary: boolean } | undefined> {
  const { manifest, catalog } = ctx;
  const schema = manifest.schema;
  const t = qualified(schema, info.name);
  const c = ident(info.column);
  const existing = await tx.query<{ ctid: string }>(`SELECT ctid::text AS ctid FROM ${t} WHERE ${c} = $1::${info.type} LIMIT 1`, [tenant]);
  if (existing.rows.length > 0) return { ctid: existing.rows[0].ctid, temporary: false };
  if (info.isTenantTable || depth > 3) return undefined;
  const template = await tx.query<{ row: Record<string, unknown> }>(`SELECT to_jsonb(x) AS row FROM ${t} x LIMIT 1`);
  if (template.rows.length === 0) return undefined;
  const row = { ...template.rows[0].row, [info.column]: tenant };
  const nullable = new Set(
    foreignKeys(info.rel)
      .flatMap((fk) => fk.columns)
      .filter((col) => col !== info.column && !findColumn(info.rel, col)?.notNull),
  );
  for (const col of nullable) row[col] = null;
  // Required references to scoped tables point at a row of the same tenant: an existing one, or a
  // temporary one made the same way. References to global tables keep the template's value.
  const scoped = new Set(manifest.tables.map((x) => x.name));
  for (const fk of foreignKeys(info.rel)) {
    if (!fk.references) continue;
    const ref = fk.references;
    const pairs = fk.columns.map((col, i) => [col, ref.columns[i]] as const).filter(([col]) => col !== info.column);
    if (pairs.length === 0 || pairs.every(([col]) => nullable.has(col))) continue;
    if (ref.schema !== schema || !scoped.has(ref.table)) continue;
    const parentInfo = tableInfo(manifest, catalog, ref.table, false);
    if (!parentInfo || !findColumn(parentInfo.rel, parentInfo.column)) return undefined;
    const parent = await rowOf(tx, ctx, parentInfo, tenant, depth + 1);
    if (!parent) return undefined;
    const found = await tx.query<{ row: Record<string, unknown> }>(
      `SELECT to_jsonb(p) AS row FROM ${qualified(ref.schema, ref.table)} p WHERE ctid = $1::tid`,
      [parent.ctid],
    );
    const parentRow = found.rows[0]?.row;
    if (!parentRow) return undefined;
    for (const [col, refCol] of pairs) row[col] = parentRow[refCol];
  }
  const cols = info.insertColumns.map(ident).join(', ');
  await tx.query('SAVEPOINT crm_tenancy_temp_row');
  try {
    const inserted = await tx.query<{ ctid: string }>(
      `INSERT INTO ${t} (${cols}) SELECT ${cols} FROM jsonb_populate_record(NULL::${t}, $1::jsonb) RETURNING ctid::text AS ctid`,
      [JSON.stringify(row)],
    );
    await tx.query('RELEASE SAVEPOINT crm_tenancy_temp_row');
    return { ctid: inserted.rows[0].ctid, temporary: true };
  } catch {
    await tx.query('ROLLBACK TO SAVEPOINT crm_tenancy_temp_row');
    return undefined;
  }
}

interface ProbeEnv {
  client: pg.ClientBase;
  manifest: Manifest;
  catalog: Catalog;
  role: string;
  a: string;
  b: string;
  info: TableInfo;
}

type Outcome = { status: ProbeStatus; detail: string };

async function selectOwn(env: ProbeEnv): Promise<Outcome> {
  const { manifest, info, a } = env;
  const t = qualified(manifest.schema, info.name);
  const c = ident(info.column);
  let expected = 0;
  const seen = await probeTx(
    env.client,
    env.role,
    a,
    manifest.tenant.setting,
    async (tx) => {
      expected = Number((await tx.query(`SELECT count(*) AS n FROM ${t} WHERE ${c} = $1::${info.type}`, [a])).rows[0].n);
    },
    async (tx) =>
      (await tx.query(`SELECT count(*) AS n, count(*) FILTER (WHERE ${c} IS DISTINCT FROM $1::${info.type}) AS foreign FROM ${t}`, [a])).rows[0],
  );
  const n = Number(seen.n);
  const foreign = Number(seen.foreign);
  if (foreign > 0) return { status: 'fail', detail: `sees ${foreign} row(s) of other tenants (${n} in all; tenant ${a} has ${expected})` };
  if (n !== expected) return { status: 'fail', detail: `sees ${n} row(s); tenant ${a} has ${expected}` };
  return { status: 'pass', detail: `sees exactly tenant ${a}'s ${expected} row(s)` };
}

async function selectNoTenant(env: ProbeEnv): Promise<Outcome> {
  const t = qualified(env.manifest.schema, env.info.name);
  try {
    const n = await probeTx(env.client, env.role, null, env.manifest.tenant.setting, async () => {}, async (tx) =>
      Number((await tx.query(`SELECT count(*) AS n FROM ${t}`)).rows[0].n),
    );
    return n === 0
      ? { status: 'pass', detail: 'no tenant set: zero rows, no error' }
      : { status: 'fail', detail: `no tenant set: sees ${n} row(s)` };
  } catch (error) {
    return { status: 'fail', detail: `no tenant set: the query raised ${errorText(error)} (it must return zero rows)` };
  }
}

function writeOutcome(error: unknown, what: string): Outcome {
  if (isPgServerError(error) && error.code === '42501') {
    return RLS_MESSAGE.test(error.message)
      ? { status: 'pass', detail: `${what}: rejected by row-level security` }
      : { status: 'pass', detail: `${what}: rejected by privileges (${error.message}), not by a policy` };
  }
  if (isPgServerError(error) && error.code.startsWith('23')) {
    // Constraints are checked after the policies' WITH CHECK: reaching one means the policy let it through.
    return { status: 'fail', detail: `${what}: passed the policies, stopped only by ${errorText(error)}` };
  }
  return { status: 'error', detail: `${what}: inconclusive, failed before the policy check with ${errorText(error)}` };
}

async function insertOtherTenant(env: ProbeEnv): Promise<Outcome> {
  const { manifest, info, a, b } = env;
  const t = qualified(manifest.schema, info.name);
  const c = ident(info.column);
  let template: Record<string, unknown> | undefined;
  try {
    const rowCount = await probeTx(
      env.client,
      env.role,
      a,
      manifest.tenant.setting,
      async (tx) => {
        const r = await tx.query(
          `SELECT to_jsonb(x) AS row FROM ${t} x ORDER BY (${c} = $1::${info.type}) DESC, (${c} = $2::${info.type}) DESC LIMIT 1`,
          [b, a],
        );
        template = r.rows[0]?.row;
      },
      async (tx) => {
        if (!template) return -1;
        const cols = info.insertColumns.map(ident).join(', ');
        const r = await tx.query(
          `INSERT INTO ${t} (${cols}) SELECT ${cols} FROM jsonb_populate_record(NULL::${t}, $1::jsonb)`,
          [JSON.stringify({ ...template, [info.column]: b })],
        );
        return r.rowCount ?? 0;
      },
      { quietTriggers: true },
    );
    if (rowCount === -1) return { status: 'skipped', detail: 'the table is empty: no row to copy for the insert' };
    return { status: 'fail', detail: `inserted a row for tenant ${b} while tenant ${a} was set` };
  } catch (error) {
    return writeOutcome(error, `insert for tenant ${b}`);
  }
}

async function updateToOtherTenant(env: ProbeEnv): Promise<Outcome> {
  const { manifest, info, a, b } = env;
  const t = qualified(manifest.schema, info.name);
  let target: { ctid: string; temporary: boolean } | undefined;
  try {
    const rowCount = await probeTx(
      env.client,
      env.role,
      a,
      manifest.tenant.setting,
      async (tx) => {
        target = await rowOf(tx, env, info, a);
      },
      async (tx) => {
        if (!target) return -1;
        return (await tx.query(`UPDATE ${t} SET ${ident(info.column)} = $1 WHERE ctid = $2::tid`, [b, target.ctid])).rowCount ?? 0;
      },
      { quietTriggers: true },
    );
    if (rowCount === -1) return { status: 'skipped', detail: `tenant ${a} has no row here and a temporary one could not be inserted` };
    if (rowCount === 0) return { status: 'error', detail: `tenant ${a}'s row was not visible to the role, so the update proved nothing` };
    return { status: 'fail', detail: `moved a row of tenant ${a} to tenant ${b}` };
  } catch (error) {
    return writeOutcome(error, `update ${info.column} to ${b}`);
  }
}

async function touchOtherRows(env: ProbeEnv, kind: 'update' | 'delete'): Promise<Outcome> {
  const { manifest, info, a, b } = env;
  const t = qualified(manifest.schema, info.name);
  const c = ident(info.column);
  let target: { ctid: string; temporary: boolean } | undefined;
  try {
    const rowCount = await probeTx(
      env.client,
      env.role,
      a,
      manifest.tenant.setting,
      async (tx) => {
        target = await rowOf(tx, env, info, b);
      },
      async (tx) => {
        if (!target) return -1;
        const sql = kind === 'update' ? `UPDATE ${t} SET ${c} = ${c} WHERE ${c} = $1::${info.type}` : `DELETE FROM ${t} WHERE ${c} = $1::${info.type}`;
        return (await tx.query(sql, [b])).rowCount ?? 0;
      },
    );
    if (rowCount === -1) return { status: 'skipped', detail: `tenant ${b} has no row here and a temporary one could not be inserted` };
    const temp = target?.temporary ? ' (a temporary row)' : '';
    if (rowCount === 0) return { status: 'pass', detail: `${kind} of tenant ${b}'s rows${temp}: 0 rows affected` };
    return { status: 'fail', detail: `${kind} of tenant ${b}'s rows affected ${rowCount} row(s)` };
  } catch (error) {
    if (isPgServerError(error) && error.code === '42501') {
      return { status: 'pass', detail: `${kind} of tenant ${b}'s rows: rejected (${error.message})` };
    }
    return { status: 'fail', detail: `${kind} of tenant ${b}'s rows reached them: ${errorText(error)}` };
  }
}

async function crossTenantReference(env: ProbeEnv): Promise<Outcome> {
  const { manifest, catalog, info, a, b } = env;
  if (info.isTenantTable) return { status: 'n/a', detail: 'the tenant table references no scoped table' };
  const scoped = new Set(manifest.tables.map((t) => t.name));
  const fks = foreignKeys(info.rel).filter(
    (fk) => fk.references && fk.references.schema === manifest.schema && scoped.has(fk.references.table),
  );
  if (fks.length === 0) return { status: 'n/a', detail: 'no foreign key to a scoped table' };
  const t = qualified(manifest.schema, info.name);
  const accepted: string[] = [];
  const rejected: string[] = [];
  const skipped: string[] = [];
  const errors: string[] = [];
  const inconclusive: string[] = [];
  for (const fk of fks) {
    const ref = fk.references!;
    const pairs = fk.columns
      .map((col, i) => [col, ref.columns[i]] as const)
      .filter(([col]) => col !== manifest.tenant.column);
    if (pairs.length === 0) continue;
    const parentInfo = tableInfo(manifest, catalog, ref.table, false);
    if (!parentInfo) continue;
    let parent: Record<string, unknown> | undefined;
    let child: { ctid: string } | undefined;
    try {
      const rowCount = await probeTx(
        env.client,
        env.role,
        a,
        manifest.tenant.setting,
        async (tx) => {
          child = await rowOf(tx, env, info, a);
          const p = await rowOf(tx, env, parentInfo, b);
          if (p) {
            const r = await tx.query(`SELECT to_jsonb(x) AS row FROM ${qualified(manifest.schema, ref.table)} x WHERE ctid = $1::tid`, [p.ctid]);
            parent = r.rows[0]?.row;
          }
        },
        async (tx) => {
          if (!child || !parent) return -1;
          const sets = pairs.map(([col], i) => `${ident(col)} = $${i + 2}`).join(', ');
          const values = pairs.map(([, refCol]) => (parent![refCol] === null ? null : String(parent![refCol])));
          return (await tx.query(`UPDATE ${t} SET ${sets} WHERE ctid = $1::tid`, [child.ctid, ...values])).rowCount ?? 0;
        },
      );
      if (rowCount === -1) skipped.push(fk.name);
      else if (rowCount === 0) errors.push(`${fk.name}: tenant ${a}'s row was not visible`);
      else accepted.push(fk.name);
    } catch (error) {
      if (isPgServerError(error) && error.code === '23503') rejected.push(fk.name);
      // Something else stopped the update before the foreign key was checked (a trigger, a unique key).
      else if (isPgServerError(error)) inconclusive.push(`${fk.name} (${errorText(error)})`);
      else errors.push(`${fk.name}: ${errorText(error)}`);
    }
  }
  if (errors.length > 0) return { status: 'error', detail: errors.join('; ') };
  if (accepted.length > 0) {
    const what = `a row of tenant ${a} could reference tenant ${b}'s parent through ${accepted.join(', ')}`;
    return manifest.tenant.compositeKeys
      ? { status: 'fail', detail: `${what} (composite_keys is on: a (tenant, id) foreign key must reject it)` }
      : { status: 'reported', detail: `${what}; (tenant, id) composite foreign keys would reject it (composite_keys)` };
  }
  const notes = [
    skipped.length ? `skipped (no rows): ${skipped.join(', ')}` : '',
    inconclusive.length ? `inconclusive, stopped before the foreign key check: ${inconclusive.join(', ')}` : '',
  ].filter(Boolean);
  if (rejected.length === 0) return { status: 'skipped', detail: notes.join('; ') };
  return { status: 'pass', detail: [`rejected by ${rejected.join(', ')}`, ...notes].join('; ') };
}

interface DependentView {
  schema: string;
  name: string;
  hasColumn: boolean;
  kind: string;
}

async function dependentViews(client: pg.ClientBase, manifest: Manifest, info: TableInfo, role: string): Promise<DependentView[]> {
  const { rows } = await client.query<DependentView>(
    `SELECT DISTINCT vn.nspname AS schema, v.relname AS name, v.relkind::text AS kind,
            EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = v.oid AND a.attname = $3 AND NOT a.attisdropped) AS "hasColumn"
       FROM pg_catalog.pg_depend d
       JOIN pg_catalog.pg_rewrite r ON r.oid = d.objid
       JOIN pg_catalog.pg_class v ON v.oid = r.ev_class
       JOIN pg_catalog.pg_namespace vn ON vn.oid = v.relnamespace
       JOIN pg_catalog.pg_class t ON t.oid = d.refobjid
       JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
      WHERE d.classid = 'pg_catalog.pg_rewrite'::regclass AND tn.nspname = $1 AND t.relname = $2
        AND v.oid <> t.oid AND v.relkind IN ('v', 'm') AND vn.nspname <> $4
        AND pg_catalog.has_table_privilege($5, v.oid, 'SELECT')
      ORDER BY 1, 2`,
    [manifest.schema, info.name, info.column, manifest.stateSchema, role],
  );
  return rows;
}

async function viewsProbe(env: ProbeEnv): Promise<Outcome> {
  const { manifest, info, a, b } = env;
  const views = await dependentViews(env.client, manifest, info, env.role);
  if (views.length === 0) return { status: 'n/a', detail: `no view over the table that ${env.role} can read` };
  const leaks: string[] = [];
  const clean: string[] = [];
  const unprobed: string[] = [];
  for (const v of views) {
    const name = `${v.schema}.${v.name}`;
    if (!v.hasColumn) {
      unprobed.push(name);
      continue;
    }
    try {
      const n = await probeTx(env.client, env.role, a, manifest.tenant.setting, async () => {}, async (tx) =>
        Number((await tx.query(`SELECT count(*) AS n FROM ${qualified(v.schema, v.name)} WHERE ${ident(info.column)} = $1::${info.type}`, [b])).rows[0].n),
      );
      if (n > 0) leaks.push(`${name} shows ${n} row(s) of tenant ${b}${v.kind === 'm' ? ' (a materialized view ignores row-level security)' : ' (security_invoker off?)'}`);
      else clean.push(name);
    } catch (error) {
      if (isPgServerError(error) && error.code === '42501') clean.push(`${name} (not readable: ${error.message})`);
      else leaks.push(`${name}: ${errorText(error)}`);
    }
  }
  if (leaks.length > 0) return { status: 'fail', detail: leaks.join('; ') };
  if (clean.length === 0) return { status: 'skipped', detail: `views without a ${info.column} column were not probed: ${unprobed.join(', ')}` };
  return {
    status: 'pass',
    detail: `no rows of tenant ${b} through ${clean.join(', ')}${unprobed.length ? `; not probed (no ${info.column} column): ${unprobed.join(', ')}` : ''}`,
  };
}

/** Zero-argument set-returning functions the role may execute whose result has the tenant column. */
async function functionProbes(env: Omit<ProbeEnv, 'info'> & { tenantType: string }): Promise<FunctionProbeResult[]> {
  const { client, manifest, role, a, b } = env;
  const column = manifest.tenant.column;
  const { rows } = await client.query<{ sig: string; name: string; schema: string; definer: boolean }>(
    `SELECT p.oid::regprocedure::text AS sig, p.proname AS name, n.nspname AS schema, p.prosecdef AS definer
       FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname = $1 AND p.prokind = 'f' AND p.pronargs = 0 AND p.proretset
        AND pg_catalog.has_function_privilege($2, p.oid, 'EXECUTE')
        AND (EXISTS (SELECT 1 FROM pg_catalog.pg_type ty JOIN pg_catalog.pg_attribute at ON at.attrelid = ty.typrelid
                      WHERE ty.oid = p.prorettype AND at.attname = $3 AND at.attnum > 0)
             OR $3 = ANY(p.proargnames))
      ORDER BY 1`,
    [manifest.schema, role, column],
  );
  const allowed = new Set(manifest.definerFunctions.map((f) => f.name));
  const out: FunctionProbeResult[] = [];
  for (const fn of rows) {
    if (allowed.has(fn.name)) {
      out.push({ role, function: fn.sig, status: 'reported', detail: 'listed under definer_functions in the manifest: allowed on purpose' });
      continue;
    }
    try {
      const n = await probeTx(client, role, a, manifest.tenant.setting, async () => {}, async (tx) =>
        Number((await tx.query(`SELECT count(*) AS n FROM ${qualified(fn.schema, fn.name)}() x WHERE x.${ident(column)} = $1::${env.tenantType}`, [b])).rows[0].n),
      );
      out.push(
        n > 0
          ? { role, function: fn.sig, status: 'fail', detail: `returns ${n} row(s) of tenant ${b}${fn.definer ? ' (SECURITY DEFINER)' : ''}` }
          : { role, function: fn.sig, status: 'pass', detail: `no rows of tenant ${b}` },
      );
    } catch (error) {
      out.push({ role, function: fn.sig, status: 'error', detail: errorText(error) });
    }
  }
  return out;
}

const RUNNERS: Record<ProbeId, (env: ProbeEnv) => Promise<Outcome>> = {
  'select-own': selectOwn,
  'select-no-tenant': selectNoTenant,
  'insert-other-tenant': insertOtherTenant,
  'update-to-other-tenant': updateToOtherTenant,
  'update-other-rows': (env) => touchOtherRows(env, 'update'),
  'delete-other-rows': (env) => touchOtherRows(env, 'delete'),
  'cross-tenant-reference': crossTenantReference,
  views: viewsProbe,
};

/**
 * Proves isolation on the live database: as each application role (SET ROLE inside the
 * transaction), for the tenant table and every scoped table, runs the probes with two real tenants.
 * Every probe runs in a transaction that is rolled back; nothing is changed. Connect as a
 * superuser or a BYPASSRLS role (true counts), member of the application roles.
 *
 * @example const result = await verifyIsolation({ manifest }); result.ok // false names table and probe
 */
export async function verifyIsolation(options: VerifyOptions): Promise<VerifyResult> {
  const { manifest } = options;
  const logger = options.logger ?? silentLogger;
  return withClient(options, 'crm-tenancy verify', async (client) => {
    const schemaExists = await client.query(`SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1`, [manifest.schema]);
    if (schemaExists.rowCount === 0) throw new TenancyError('manifest-live', `schema ${manifest.schema} does not exist in this database`);
    await checkPrivileges(client, manifest.roles.app);
    const catalog = await readCatalog(client, [manifest.schema]);
    const tenantInfo = tableInfo(manifest, catalog, manifest.tenant.table, true);
    if (!tenantInfo) throw new TenancyError('manifest-live', `tenant table ${manifest.schema}.${manifest.tenant.table} does not exist`);
    const [a, b] = options.tenants ?? (await pickTenants(client, manifest, catalog));
    if (options.tenants) {
      const found = await client.query<{ t: string }>(
        `SELECT ${ident(manifest.tenant.key)}::text AS t FROM ${qualified(manifest.schema, manifest.tenant.table)} WHERE ${ident(manifest.tenant.key)}::text = ANY($1::text[])`,
        [options.tenants],
      );
      const missing = options.tenants.filter((t) => !found.rows.some((r) => r.t === t));
      if (missing.length > 0 || a === b) {
        throw new TenancyError('usage', `--tenants needs two different existing tenants; not found: ${missing.join(', ') || '(the same tenant twice)'}`, {
          hint: `tenant keys are ${manifest.schema}.${manifest.tenant.table}.${manifest.tenant.key} values`,
        });
      }
    }
    logger.info(`verify: tenant A = ${a}, tenant B = ${b}; roles ${manifest.roles.app.join(', ')}`);
    const probes: ProbeResult[] = [];
    const functions: FunctionProbeResult[] = [];
    const tables = [manifest.tenant.table, ...manifest.tables.map((t) => t.name)];
    const total = manifest.roles.app.length * tables.length;
    let done = 0;
    for (const role of manifest.roles.app) {
      for (const name of tables) {
        const info = name === manifest.tenant.table ? tenantInfo : tableInfo(manifest, catalog, name, false);
        options.onProgress?.({ kind: 'verify', task: `${role} ${name}`, done, total });
        if (!info || !findColumn(info.rel, info.column)) {
          const why = !info ? `table ${manifest.schema}.${name} does not exist` : `column ${info.column} does not exist`;
          for (const probe of PROBES) probes.push({ role, table: name, probe, status: 'error', detail: why });
          done++;
          continue;
        }
        for (const probe of PROBES) {
          let outcome: Outcome;
          try {
            outcome = await RUNNERS[probe]({ client, manifest, catalog, role, a, b, info });
          } catch (error) {
            outcome = { status: 'error', detail: errorText(error) };
          }
          probes.push({ role, table: name, probe, ...outcome });
        }
        done++;
      }
      functions.push(...(await functionProbes({ client, manifest, catalog, role, a, b, tenantType: tenantInfo.type })));
    }
    options.onProgress?.({ kind: 'verify', task: 'done', done: total, total });
    const counts: Record<ProbeStatus, number> = { pass: 0, fail: 0, error: 0, reported: 0, skipped: 0, 'n/a': 0 };
    for (const p of [...probes, ...functions]) counts[p.status]++;
    const failures = [
      ...probes.filter((p) => p.status === 'fail' || p.status === 'error').map((p) => ({ role: p.role, table: p.table, probe: p.probe, detail: p.detail })),
      ...functions
        .filter((f) => f.status === 'fail' || f.status === 'error')
        .map((f) => ({ role: f.role, table: f.function, probe: 'function', detail: f.detail })),
    ];
    return {
      tenants: { a, b },
      roles: [...manifest.roles.app],
      tables,
      probes,
      functions,
      counts,
      failures,
      passed: counts.pass,
      failed: counts.fail + counts.error,
      ok: failures.length === 0,
    };
  });
}

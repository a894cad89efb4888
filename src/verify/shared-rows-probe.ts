// The `shared-rows` probe and the read probes of shared_rows tables: every tenant reads the NULL-tenant rows, none changes, deletes or creates one.
import type pg from 'pg';
import { ident, qualified } from '../db/quote.js';
import { isPgServerError } from '../errors.js';
import { tableInfo } from './preconditions.js';
import { isRow, readRow, rowOf, type RowLookup, type RowRef } from './probe-rows.js';
import { errorText, probeTx, withSavepoint, writeOutcome } from './probe-transaction.js';
import type { Finding } from './role-probes.js';
import type { Outcome, ProbeEnv, TableInfo, TableProbeEnv } from './verify-types.js';

const CURSOR = ident('crm_tenancy_shared_probe');

/** True when the manifest declares the table `shared_rows: true`. */
export function isSharedRowsTable(env: Pick<ProbeEnv, 'manifest'>, table: string): boolean {
  return env.manifest.tables.some((t) => t.name === table && t.sharedRows);
}

/**
 * A shared row (NULL tenant) of the table, as the owner: an existing one, else tenant A's row (made
 * for the probe if need be) with its tenant set to NULL, inside the probe's rolled-back transaction.
 */
async function sharedRow(tx: pg.ClientBase, env: ProbeEnv, info: TableInfo): Promise<RowLookup> {
  const t = qualified(info.rel.schema, info.name);
  const c = ident(info.column);
  const existing = await tx.query<{ ctid: string; tableoid: string }>(
    `SELECT ctid::text AS ctid, tableoid::oid::text AS tableoid FROM ${t} WHERE ${c} IS NULL LIMIT 1`,
  );
  if (existing.rows.length > 0) return { ...existing.rows[0], temporary: false };
  const own = await rowOf(tx, env, info, env.a);
  if (!isRow(own)) return { problem: `no shared row, and none could be made: ${own.problem}` };
  try {
    const made = await withSavepoint(tx, () =>
      tx.query<{ ctid: string; tableoid: string }>(
        `UPDATE ${t} x SET ${c} = NULL WHERE x.tableoid = $1::oid AND x.ctid = $2::tid RETURNING x.ctid::text AS ctid, x.tableoid::oid::text AS tableoid`,
        [own.tableoid, own.ctid],
      ),
    );
    return { ...made.rows[0], temporary: true };
  } catch (error) {
    return { problem: `no shared row, and none could be made (a row of tenant ${env.a} with ${info.column} set to NULL): ${errorText(error)}` };
  }
}

type Step = 'read' | 'update' | 'delete' | 'create';

/** One step, tenant A set, in its own rolled-back transaction. */
async function step(env: ProbeEnv, info: TableInfo, kind: Step): Promise<Outcome> {
  const t = qualified(env.manifest.schema, info.name);
  const c = ident(info.column);
  const { a } = env;
  let row: RowLookup = { problem: 'not looked up' };
  let values: Record<string, unknown> | undefined;
  const made = () => (isRow(row) && row.temporary ? ' (a shared row made for the probe)' : '');
  const what = {
    read: `tenant ${a} set: reading a shared row`,
    update: `tenant ${a} set: taking over a shared row (UPDATE … SET ${info.column} = ${a})`,
    delete: `tenant ${a} set: deleting a shared row`,
    create: `tenant ${a} set: creating a shared row (INSERT with ${info.column} NULL)`,
  }[kind];
  let count: number;
  try {
    count = await probeTx(
      env,
      a,
      async (tx) => {
        row = await sharedRow(tx, env, info);
        if (!isRow(row)) return;
        if (kind === 'create') values = await readRow(tx, { schema: env.manifest.schema, name: info.name }, row);
        if (kind === 'update' || kind === 'delete') {
          // WHERE CURRENT OF reads no column: only the UPDATE or DELETE policies decide (see write-probes.ts).
          await tx.query(`DECLARE ${CURSOR} CURSOR FOR SELECT 1 FROM ${t} x WHERE x.tableoid = $1::oid AND x.ctid = $2::tid FOR UPDATE`, [row.tableoid, row.ctid]);
          if ((await tx.query(`FETCH ${CURSOR}`)).rowCount !== 1) row = { problem: 'the shared row was not found again' };
        }
      },
      async (tx) => {
        if (!isRow(row)) return -1;
        const ref: RowRef = row;
        if (kind === 'read') {
          const r = await tx.query<{ n: string }>(`SELECT count(*) AS n FROM ${t} x WHERE x.tableoid = $1::oid AND x.ctid = $2::tid`, [ref.tableoid, ref.ctid]);
          return Number(r.rows[0].n);
        }
        if (kind === 'update') return (await tx.query(`UPDATE ${t} SET ${c} = $1::${info.type} WHERE CURRENT OF ${CURSOR}`, [a])).rowCount ?? 0;
        if (kind === 'delete') return (await tx.query(`DELETE FROM ${t} WHERE CURRENT OF ${CURSOR}`)).rowCount ?? 0;
        const copy = { ...(values ?? {}), [info.column]: null };
        const cols = info.insertColumns.filter((col) => Object.hasOwn(copy, col)).map(ident).join(', ');
        const r = await tx.query(`INSERT INTO ${t} (${cols}) SELECT ${cols} FROM jsonb_populate_record(NULL::${t}, $1::jsonb)`, [JSON.stringify(copy)]);
        return r.rowCount ?? 0;
      },
      // Creating: a trigger could fill the tenant in or raise before the policy check (see probeTx).
      { quietTriggers: kind === 'create' },
    );
  } catch (error) {
    if (kind === 'create') return writeOutcome(error, `${what}${made()}`);
    if (kind === 'read') return { status: 'fail', detail: `${what}${made()}: raised ${errorText(error)}` };
    // A trigger or constraint that fired means the policies let the write reach the row.
    if (isPgServerError(error) && error.code === '42501') return { status: 'pass', detail: `${what}${made()}: rejected (${error.message})` };
    return { status: 'fail', detail: `${what}${made()}: reached the row: ${errorText(error)}` };
  }
  if (!isRow(row)) return { status: 'unprobed', detail: `${what}: ${row.problem}` };
  if (kind === 'read') {
    return count === 1 ? { status: 'pass', detail: `${what}${made()}: visible` } : { status: 'fail', detail: `${what}${made()}: not visible to the tenant` };
  }
  if (kind === 'create') {
    return count > 0
      ? { status: 'fail', detail: `${what}: inserted` }
      : { status: 'error', detail: `${what}: inserted nothing and raised nothing (a rule or trigger?)` };
  }
  return count === 0
    ? { status: 'pass', detail: `${what}${made()}: 0 rows affected` }
    : { status: 'fail', detail: `${what}${made()}: ${count} row(s) ${kind === 'delete' ? 'deleted' : 'changed'}` };
}

const ORDER = ['fail', 'error', 'unprobed', 'pass'] as const;

/**
 * `shared-rows` (per role): for each `shared_rows` table, with tenant A set, a shared row is
 * readable, and neither an UPDATE taking it over nor a DELETE affects it, nor can an INSERT with a
 * NULL tenant create one. Each step is its own rolled-back transaction.
 */
export async function sharedRowsProbe(env: ProbeEnv): Promise<Finding[]> {
  const tables = env.manifest.tables.filter((t) => t.sharedRows).map((t) => t.name);
  if (tables.length === 0) return [{ table: '-', status: 'n/a', detail: 'no table is declared shared_rows' }];
  const findings: Finding[] = [];
  for (const name of tables) {
    const info = tableInfo(env.manifest, env.catalog, name, false);
    if (!info) {
      findings.push({ table: name, status: 'error', detail: `table ${env.manifest.schema}.${name} does not exist` });
      continue;
    }
    const outcomes: Outcome[] = [];
    for (const kind of ['read', 'update', 'delete', 'create'] as const) outcomes.push(await step(env, info, kind));
    const status = ORDER.find((s) => outcomes.some((o) => o.status === s)) ?? 'error';
    const shown = status === 'pass' ? outcomes : outcomes.filter((o) => o.status === status);
    findings.push({ table: name, status, detail: shown.map((o) => o.detail).join('; ') });
  }
  return findings;
}

/**
 * `select-own` on a shared_rows table: with tenant A set, SELECT returns exactly A's rows and the
 * shared ones (both counted as the owner), and no row of another tenant.
 */
export async function selectOwnShared(env: TableProbeEnv): Promise<Outcome> {
  const { info, a } = env;
  const t = qualified(env.manifest.schema, info.name);
  const c = ident(info.column);
  let expected = { own: 0, shared: 0 };
  const seen = await probeTx(
    env,
    a,
    async (tx) => {
      const r = await tx.query<{ own: string; shared: string }>(
        `SELECT count(*) FILTER (WHERE ${c} = $1::${info.type}) AS own, count(*) FILTER (WHERE ${c} IS NULL) AS shared FROM ${t}`,
        [a],
      );
      expected = { own: Number(r.rows[0].own), shared: Number(r.rows[0].shared) };
    },
    async (tx) =>
      (await tx.query<{ n: string; foreign: string }>(`SELECT count(*) AS n, count(*) FILTER (WHERE ${c} <> $1::${info.type}) AS foreign FROM ${t}`, [a])).rows[0],
  );
  const n = Number(seen.n);
  const foreign = Number(seen.foreign);
  const want = expected.own + expected.shared;
  if (foreign > 0) return { status: 'fail', detail: `tenant ${a} set: sees ${foreign} row(s) of other tenants (${n} in all)` };
  if (n !== want) return { status: 'fail', detail: `tenant ${a} set: sees ${n} row(s); tenant ${a} has ${expected.own} and ${expected.shared} are shared` };
  return { status: 'pass', detail: `sees exactly tenant ${a}'s ${expected.own} row(s) and the ${expected.shared} shared one(s)` };
}

/** `select-no-tenant` on a shared_rows table: with no tenant set, only the shared rows, and no error. */
export async function selectNoTenantShared(env: TableProbeEnv): Promise<Outcome> {
  const t = qualified(env.manifest.schema, env.info.name);
  const c = ident(env.info.column);
  try {
    const n = await probeTx(env, null, async () => {}, async (tx) => Number((await tx.query(`SELECT count(*) AS n FROM ${t} WHERE ${c} IS NOT NULL`)).rows[0].n));
    return n === 0
      ? { status: 'pass', detail: 'no tenant set: no tenant row (only the shared ones), no error' }
      : { status: 'fail', detail: `no tenant set: sees ${n} row(s) of tenants` };
  } catch (error) {
    return { status: 'fail', detail: `no tenant set: the query raised ${errorText(error)} (it must return only the shared rows)` };
  }
}

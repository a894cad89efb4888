// Write probes: with tenant A set, the role can neither insert B's rows, move its own rows to B, nor change or delete B's rows.
import { ident, qualified } from '../db/quote.js';
import { isLockTimeout } from '../db/transaction.js';
import { isPgServerError } from '../errors.js';
import { citusDistributionColumn, nullableTarget, unusedTenant } from './citus-write-targets.js';
import { existingRowOf, isRow, makeRowOf, rowOf, type RowLookup } from './probe-rows.js';
import { citusSetSql } from '../tenant/with-tenant.js';
import { errorText, probeTx, writeOutcome } from './probe-transaction.js';
import type { Outcome, TableProbeEnv } from './verify-types.js';

/** `insert-other-tenant`: an INSERT of a row for tenant B is rejected. */
export async function insertOtherTenant(env: TableProbeEnv): Promise<Outcome> {
  const { info, a, b } = env;
  const t = qualified(env.manifest.schema, info.name);
  const c = ident(info.column);
  let row: Record<string, unknown> = {};
  try {
    const rowCount = await probeTx(
      env,
      a,
      async (tx) => {
        // A copy of a real row (B's if any) is the most realistic insert. On an empty table, only the
        // tenant column: the policies' WITH CHECK runs before NOT NULL, CHECK, unique and foreign keys,
        // so a row the constraints would refuse still shows whether the policy let it through.
        const r = await tx.query(
          `SELECT s.row FROM ((SELECT to_jsonb(x) AS row FROM ${t} x WHERE ${c} = $1::${info.type} LIMIT 1)
                              UNION ALL (SELECT to_jsonb(x) FROM ${t} x LIMIT 1)) s LIMIT 1`,
          [b],
        );
        row = { ...(r.rows[0]?.row ?? {}), [info.column]: b };
      },
      async (tx) => {
        const names = info.insertColumns.filter((col) => Object.hasOwn(row, col)).map(ident);
        const cols = names.join(', ');
        // Citus runs INSERT … SELECT from a function as a COPY, which it refuses under row-level
        // security: there, one VALUES row of the same record's fields.
        const sql = env.citus
          ? `INSERT INTO ${t} (${cols}) VALUES (${names.map((n) => `(jsonb_populate_record(NULL::${t}, $1::jsonb)).${n}`).join(', ')})`
          : `INSERT INTO ${t} (${cols}) SELECT ${cols} FROM jsonb_populate_record(NULL::${t}, $1::jsonb)`;
        const r = await tx.query(sql, [JSON.stringify(row)]);
        return r.rowCount ?? 0;
      },
      { quietTriggers: true },
    );
    return rowCount > 0
      ? { status: 'fail', detail: `tenant ${a} set: inserted a row for tenant ${b}` }
      : { status: 'error', detail: `tenant ${a} set: the insert for tenant ${b} inserted nothing and raised nothing (a rule or trigger?)` };
  } catch (error) {
    return writeOutcome(error, `tenant ${a} set: insert for tenant ${b}`);
  }
}

type WriteKind = 'update-to-other-tenant' | 'update-other-rows' | 'delete-other-rows';

const CURSOR = ident('crm_tenancy_probe');

/**
 * The shared scaffold of the probes that change an existing row. As the owner: find or make the
 * target row (A's own row to move, or B's row to touch) and put a cursor on it. Then as the role,
 * tenant A set: UPDATE or DELETE … WHERE CURRENT OF the cursor, and count the rows changed.
 *
 * Why a cursor: a statement whose WHERE, SET or RETURNING reads a column (ctid and keys included)
 * needs SELECT too, so PostgreSQL also applies the SELECT policies, to the new row as well; a sound
 * SELECT policy would then reject the write whatever the UPDATE or DELETE policy says, and a
 * permissive `FOR UPDATE … WITH CHECK (true)` would go unseen. WHERE CURRENT OF reads no column:
 * only the policies of the command under test decide.
 */
async function probeWrite(env: TableProbeEnv, kind: WriteKind): Promise<Outcome> {
  if (env.citus) return probeWriteCitus(env, kind);
  const { info, a, b } = env;
  const t = qualified(env.manifest.schema, info.name);
  const owner = kind === 'update-to-other-tenant' ? a : b;
  let target = { problem: 'not looked up' } as RowLookup;
  const sql =
    kind === 'delete-other-rows'
      ? `DELETE FROM ${t} WHERE CURRENT OF ${CURSOR}`
      : // A's row goes to B; B's row is taken over by A (the write an attacker would try).
        `UPDATE ${t} SET ${ident(info.column)} = $1::${info.type} WHERE CURRENT OF ${CURSOR}`;
  const params = kind === 'delete-other-rows' ? [] : [kind === 'update-to-other-tenant' ? b : a];
  const what =
    kind === 'update-to-other-tenant'
      ? `tenant ${a} set: moving its row to tenant ${b}`
      : `tenant ${a} set: ${kind === 'update-other-rows' ? `update of tenant ${b}'s row to ${a}` : `delete of tenant ${b}'s row`}`;
  let rowCount: number;
  const made = () => (isRow(target) && target.temporary ? ' (a row made for the probe)' : '');
  try {
    rowCount = await probeTx(
      env,
      a,
      async (tx) => {
        target = await rowOf(tx, env, info, owner);
        if (!isRow(target)) return;
        await tx.query(`DECLARE ${CURSOR} CURSOR FOR SELECT 1 FROM ${t} x WHERE x.tableoid = $1::oid AND x.ctid = $2::tid FOR UPDATE`, [
          target.tableoid,
          target.ctid,
        ]);
        if ((await tx.query(`FETCH ${CURSOR}`)).rowCount !== 1) target = { problem: `the row of tenant ${owner} was not found again` };
      },
      async (tx) => (isRow(target) ? ((await tx.query(sql, params)).rowCount ?? 0) : -1),
      // Moving a row: triggers could rewrite the tenant or raise first (see probeTx). Touching B's
      // rows: a trigger fires only on a row the policies let through, so it shows the hole.
      { quietTriggers: kind === 'update-to-other-tenant' },
    );
  } catch (error) {
    if (kind === 'update-to-other-tenant') return writeOutcome(error, `${what}${made()}`);
    if (isPgServerError(error) && error.code === '42501') return { status: 'pass', detail: `${what}${made()}: rejected (${error.message})` };
    return { status: 'fail', detail: `${what}${made()}: reached the row: ${errorText(error)}` };
  }
  if (!isRow(target)) return { status: 'unprobed', detail: `${what}: ${target.problem}` };
  if (rowCount === 0) {
    return kind === 'update-to-other-tenant'
      ? { status: 'pass', detail: `${what}${made()}: 0 rows moved (the UPDATE policies admit none)` }
      : { status: 'pass', detail: `${what}${made()}: 0 rows affected` };
  }
  return { status: 'fail', detail: `${what}${made()}: ${rowCount} row(s) ${kind === 'delete-other-rows' ? 'deleted' : 'changed'}` };
}

/**
 * The Citus form of probeWrite. Citus runs no UPDATE/DELETE … WHERE CURRENT OF and no FOR UPDATE
 * cursor over a distributed table, and a statement that names the tenant in its WHERE reads a column,
 * so the SELECT policies would apply too and hide a leak of the FOR UPDATE / FOR DELETE policies
 * alone. So the statement has no WHERE and reads no column (SET to a constant, no RETURNING): only the
 * policies of the command under test filter it, as with the cursor. Citus runs it on every shard.
 *
 * - Another tenant's rows (update-other-rows, delete-other-rows): the statement runs with a tenant
 *   set that has no row in the table (a value made up and looked up as the owner), so sound
 *   policies admit none: every row it changes or deletes belongs to another tenant. B's row is made
 *   first when B has none, so there is a row to reach. The UPDATE takes the rows over to that tenant
 *   (`SET <tenant column> = <it>`, as the cursor form does into A); where the tenant column is the
 *   distribution column, which Citus refuses to change, it sets another column to NULL instead. Not
 *   tenant A: the statement would then reach every one of A's rows (a parent's DELETE stops at its
 *   children's foreign keys, a NULL at NOT NULL: failures on a sound table; triggers, locks).
 * - Moving A's rows to B (update-to-other-tenant): `UPDATE t SET <tenant column> = B`, tenant A set:
 *   A's rows reach the WITH CHECK (A's row is made first when A has none). On a table distributed by
 *   the tenant column Citus refuses it before the policies: a pass (writeOutcome says so).
 *
 * Rows are made as the role itself, with their tenant set, then the probe's tenant is set: Citus
 * refuses a query as the role on a shard placement another user (the verifying role) modified in the
 * same transaction. Everything stays in probeTx's rolled-back transaction, under its lock timeout.
 */
async function probeWriteCitus(env: TableProbeEnv, kind: WriteKind): Promise<Outcome> {
  const { info, a, b } = env;
  const t = qualified(env.manifest.schema, info.name);
  const c = ident(info.column);
  const moving = kind === 'update-to-other-tenant';
  const owner = moving ? a : b;
  let target = { problem: 'not looked up' } as RowLookup;
  // The tenant the statement runs with (A to move A's rows; else one with no rows here), and the statement.
  let tenant: string | undefined = moving ? a : undefined;
  let statement = undefined as [sql: string, params: unknown[]] | undefined;
  let note = '';
  try {
    const rowCount = await probeTx(
      env,
      a,
      async (tx) => {
        target = (await existingRowOf(tx, info, owner)) ?? { problem: 'to be made' };
        if (moving) {
          statement = [`UPDATE ${t} SET ${c} = $1::${info.type}`, [b]];
          return;
        }
        const unused = await unusedTenant(tx, info);
        if (unused === undefined) {
          target = { problem: `no tenant value of type ${info.type} with no rows in the table could be made up` };
          return;
        }
        tenant = unused;
        if (kind === 'delete-other-rows') statement = [`DELETE FROM ${t}`, []];
        else if ((await citusDistributionColumn(tx, info)) !== info.column) statement = [`UPDATE ${t} SET ${c} = $1::${info.type}`, [tenant]];
        else {
          const column = await nullableTarget(tx, info, env.role, [info.column]);
          statement = column ? [`UPDATE ${t} SET ${ident(column)} = NULL`, []] : [`UPDATE ${t} SET ${c} = ${c}`, []];
          if (!column) note = ` (no other column to set: SET ${info.column} = ${info.column} reads it, so the SELECT policies apply too)`;
        }
      },
      async (tx) => {
        if (!statement) return -1;
        if (!isRow(target)) {
          for (const s of citusSetSql(env.manifest.tenant.setting, owner)) await tx.query(s);
          target = await makeRowOf(tx, env, info, owner);
          if (!isRow(target)) return -1;
        }
        for (const s of citusSetSql(env.manifest.tenant.setting, tenant ?? a)) await tx.query(s);
        return (await tx.query(statement[0], statement[1])).rowCount ?? 0;
      },
      { quietTriggers: moving },
    );
    if (!isRow(target)) return { status: 'unprobed', detail: `${citusWhat(env, kind, tenant)}: ${target.problem}` };
    const what = `${citusWhat(env, kind, tenant)}${made(target)}${note}`;
    if (rowCount === 0) return { status: 'pass', detail: moving ? `${what}: 0 rows moved (the UPDATE policies admit none)` : `${what}: 0 rows affected` };
    return moving
      ? { status: 'fail', detail: `${what}: ${rowCount} row(s) moved` }
      : { status: 'fail', detail: `${what}: ${rowCount} row(s) of other tenants ${kind === 'delete-other-rows' ? 'deleted' : 'changed'}` };
  } catch (error) {
    const what = `${citusWhat(env, kind, tenant)}${made(target)}${note}`;
    if (moving) return writeOutcome(error, what);
    if (isPgServerError(error) && error.code === '42501') return { status: 'pass', detail: `${what}: rejected (${error.message})` };
    // A lock timeout on a row (CONTEXT: while deleting tuple …) means the policies let the row through;
    // on Citus's lock of every shard (another multi-shard UPDATE or DELETE held it), nothing was reached.
    if (isPgServerError(error) && isLockTimeout(error) && !/\btuple\b/.test(error.where ?? '')) return { status: 'error', detail: `${what}: inconclusive, ${errorText(error)}` };
    return { status: 'fail', detail: `${what}: reached the rows: ${errorText(error)}` };
  }
}

const made = (target: RowLookup): string => (isRow(target) && target.temporary ? ' (a row made for the probe)' : '');

/** What a Citus write probe tried, for its detail. */
function citusWhat(env: TableProbeEnv, kind: WriteKind, tenant: string | undefined): string {
  const { a, b } = env;
  if (kind === 'update-to-other-tenant') return `tenant ${a} set: moving its rows to tenant ${b} (UPDATE without WHERE)`;
  const verb = kind === 'update-other-rows' ? 'UPDATE' : 'DELETE';
  const set = tenant === undefined ? 'a tenant with no rows of its own in the table set' : `tenant ${tenant} set (no rows of its own in the table)`;
  return `${set}: ${verb} without WHERE, tenant ${b}'s rows in reach`;
}

export const updateToOtherTenant = (env: TableProbeEnv): Promise<Outcome> => probeWrite(env, 'update-to-other-tenant');
export const updateOtherRows = (env: TableProbeEnv): Promise<Outcome> => probeWrite(env, 'update-other-rows');
export const deleteOtherRows = (env: TableProbeEnv): Promise<Outcome> => probeWrite(env, 'delete-other-rows');

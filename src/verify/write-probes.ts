// Write probes: with tenant A set, the role can neither insert B's rows, move its own rows to B, nor change or delete B's rows.
import { ident, qualified } from '../db/quote.js';
import { isPgServerError } from '../errors.js';
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
 * The Citus form of probeWrite: Citus runs no UPDATE/DELETE … WHERE CURRENT OF and no FOR UPDATE
 * cursor over a distributed table, so the statement names the tenant instead (its WHERE reads the
 * tenant column: the SELECT policies apply too). The target row is still made first when the tenant
 * has none (as the role, with that tenant set: see below), so "0 rows" means the policies hid it. Moving a row to another tenant is refused by
 * Citus itself on a distributed table (the distribution column cannot be updated): a pass.
 */
async function probeWriteCitus(env: TableProbeEnv, kind: WriteKind): Promise<Outcome> {
  const { info, a, b } = env;
  const t = qualified(env.manifest.schema, info.name);
  const c = ident(info.column);
  const owner = kind === 'update-to-other-tenant' ? a : b;
  let target = { problem: 'not looked up' } as RowLookup;
  const [sql, params] =
    kind === 'update-to-other-tenant'
      ? [`UPDATE ${t} SET ${c} = $1::${info.type} WHERE ${c} = $2::${info.type}`, [b, a]]
      : kind === 'update-other-rows'
        ? [`UPDATE ${t} SET ${c} = ${c} WHERE ${c} = $1::${info.type}`, [b]]
        : [`DELETE FROM ${t} WHERE ${c} = $1::${info.type}`, [b]];
  const what =
    kind === 'update-to-other-tenant'
      ? `tenant ${a} set: moving its rows to tenant ${b}`
      : `tenant ${a} set: ${kind === 'update-other-rows' ? `update of tenant ${b}'s rows` : `delete of tenant ${b}'s rows`}`;
  const made = () => (isRow(target) && target.temporary ? ' (a row made for the probe)' : '');
  let rowCount: number;
  try {
    rowCount = await probeTx(
      env,
      a,
      async (tx) => {
        target = (await existingRowOf(tx, info, owner)) ?? { problem: 'to be made' };
      },
      async (tx) => {
        if (!isRow(target)) {
          // Citus refuses a query as the role on a shard placement another user (the verifying
          // role) modified in the same transaction: the row is made as the role itself, with its
          // tenant set, and then tenant A is set again.
          for (const statement of citusSetSql(env.manifest.tenant.setting, owner)) await tx.query(statement);
          target = await makeRowOf(tx, env, info, owner);
          for (const statement of citusSetSql(env.manifest.tenant.setting, a)) await tx.query(statement);
          if (!isRow(target)) return -1;
        }
        return (await tx.query(sql, params)).rowCount ?? 0;
      },
      { quietTriggers: kind === 'update-to-other-tenant' },
    );
  } catch (error) {
    if (kind === 'update-to-other-tenant') return writeOutcome(error, `${what}${made()}`);
    if (isPgServerError(error) && error.code === '42501') return { status: 'pass', detail: `${what}${made()}: rejected (${error.message})` };
    return { status: 'fail', detail: `${what}${made()}: reached the rows: ${errorText(error)}` };
  }
  if (!isRow(target)) return { status: 'unprobed', detail: `${what}: ${target.problem}` };
  if (rowCount === 0) return { status: 'pass', detail: `${what}${made()}: 0 rows affected` };
  return { status: 'fail', detail: `${what}${made()}: ${rowCount} row(s) ${kind === 'delete-other-rows' ? 'deleted' : 'changed'}` };
}

export const updateToOtherTenant = (env: TableProbeEnv): Promise<Outcome> => probeWrite(env, 'update-to-other-tenant');
export const updateOtherRows = (env: TableProbeEnv): Promise<Outcome> => probeWrite(env, 'update-other-rows');
export const deleteOtherRows = (env: TableProbeEnv): Promise<Outcome> => probeWrite(env, 'delete-other-rows');

// The polymorphic-reference probe: a row of tenant A pointed through a `*_type`/`*_id` pair at tenant B's row must be rejected.
import { randomUUID } from 'node:crypto';
import { findColumn } from '../db/catalog.js';
import { ident, qualified } from '../db/quote.js';
import { isPgServerError } from '../errors.js';
import { resolvePairs, type PolymorphicTarget, type ResolvedPair } from '../audit/polymorphic-references.js';
import { tableInfo } from './preconditions.js';
import { isRow, readRow, rowOf, type RowLookup } from './probe-rows.js';
import { errorText, isPrivilegeError, probeTx, withSavepoint } from './probe-transaction.js';
import type { Finding } from './role-probes.js';
import type { ProbeEnv, TableInfo } from './verify-types.js';

type Result = { kind: 'accepted' | 'rejected' | 'unprobed' | 'error'; detail: string };

/**
 * `polymorphic-reference`, one result per pair of the manifest: as the role with tenant A set, an
 * UPDATE pointing A's row (type and id) at tenant B's target row (an INSERT of such a row where the
 * role may not update) must be rejected (SQLSTATE 23503,
 * the enforcing trigger's foreign_key_violation); run for every target, both ways. A pair has no
 * foreign key, so without the trigger PostgreSQL accepts it: fail. The rows it needs are made in
 * the rolled-back transaction (as the owner, with triggers quiet while they are made, so a copied
 * row pointing at its template's target is not refused by the very trigger under test).
 */
export async function polymorphicReference(env: ProbeEnv): Promise<Finding[]> {
  const { manifest, catalog, a, b } = env;
  const out: Finding[] = [];
  for (const pair of resolvePairs(manifest, catalog)) {
    const label = `${pair.table} (${pair.ref.typeColumn}/${pair.ref.idColumn})`;
    const info = tableInfo(manifest, catalog, pair.table, false);
    if (!info || !findColumn(info.rel, info.column)) {
      out.push({ table: label, status: 'unprobed', detail: `${manifest.schema}.${pair.table} has no ${manifest.tenant.column} column yet` });
      continue;
    }
    const results: (Result & { target: string })[] = pair.unresolved.map((u) => ({
      kind: 'unprobed' as const,
      target: u.table,
      detail: `type '${u.type}' → ${u.table}: ${u.reason}`,
    }));
    for (const target of pair.targets) {
      for (const [x, y] of [
        [a, b],
        [b, a],
      ]) {
        results.push({ target: target.table, ...(await probeTarget(env, info, pair, target, x, y)) });
      }
    }
    out.push({ table: label, ...judge(results, pair) });
  }
  return out;
}

function judge(results: (Result & { target: string })[], pair: ResolvedPair): Omit<Finding, 'table'> {
  const list = (kind: Result['kind']) => [...new Set(results.filter((r) => r.kind === kind).map((r) => r.detail))];
  const accepted = list('accepted');
  const errors = list('error');
  const unprobed = list('unprobed');
  const rejected = [...new Set(results.filter((r) => r.kind === 'rejected').map((r) => r.target))];
  if (errors.length > 0) return { status: 'error', detail: errors.join('; ') };
  if (accepted.length > 0) {
    return { status: 'fail', detail: `${accepted.join('; ')}: no trigger enforces the pair (the validate phase installs one)` };
  }
  if (unprobed.length > 0) return { status: 'unprobed', detail: [`not probed: ${unprobed.join('; ')}`, rejected.length ? `rejected for ${rejected.join(', ')}` : ''].filter(Boolean).join('; ') };
  if (rejected.length === 0) return { status: 'n/a', detail: `no target of ${pair.ref.typeColumn} to probe` };
  return { status: 'pass', detail: `a row pointing at another tenant's ${rejected.join(', ')} row is rejected` };
}

/** One target, one direction: A's row repointed (type, id) at B's target row, as the role with A set. */
async function probeTarget(env: ProbeEnv, info: TableInfo, pair: ResolvedPair, target: PolymorphicTarget, x: string, y: string): Promise<Result> {
  const { manifest, catalog } = env;
  const targetInfo = target.isTenantTable ? env.tenantInfo : tableInfo(manifest, catalog, target.table, false);
  if (!targetInfo) return { kind: 'unprobed', detail: `${target.table} does not exist` };
  let child: RowLookup = { problem: 'not looked up' };
  let copy: Record<string, unknown> | undefined;
  let key: unknown;
  let missing = '';
  try {
    const rowCount = await probeTx(
      env,
      x,
      async (tx) => {
        // Quiet while the owner makes the rows (needs superuser; without it the rows are made with triggers on).
        const quiet = await withSavepoint(tx, () => tx.query(`SET LOCAL session_replication_role = replica`)).then(
          () => true,
          () => false,
        );
        child = await rowOf(tx, env, info, x);
        const p = await rowOf(tx, env, targetInfo, y);
        const values = isRow(p) ? await readRow(tx, { schema: manifest.schema, name: target.table }, p) : undefined;
        key = values?.[target.key.name];
        if (isRow(child)) copy = await readRow(tx, { schema: manifest.schema, name: pair.table }, child);
        if (quiet) await tx.query(`SET LOCAL session_replication_role = origin`);
        missing = !isRow(child) ? child.problem : !isRow(p) ? p.problem : key == null ? `the ${target.table} row of tenant ${y} is not readable` : '';
      },
      async (tx) => {
        if (!isRow(child) || key == null) return -1;
        const at = child;
        const t = qualified(manifest.schema, pair.table);
        const sql = `UPDATE ${t} x SET ${ident(pair.ref.typeColumn)} = $3, ${ident(pair.ref.idColumn)} = $4
          WHERE x.tableoid = $1::oid AND x.ctid = $2::tid`;
        try {
          return await withSavepoint(tx, async () => (await tx.query(sql, [at.tableoid, at.ctid, target.type, String(key)])).rowCount ?? 0);
        } catch (error) {
          if (!isPrivilegeError(error) || !copy) throw error;
        }
        // No UPDATE privilege (an append-only history table): the same reference as an INSERT of a
        // copy of A's row; a primary key without a default gets a fresh uuid where it is one.
        const row: Record<string, unknown> = { ...copy, [pair.ref.typeColumn]: target.type, [pair.ref.idColumn]: String(key) };
        for (const c of info.rel.primaryKey ?? []) if (findColumn(info.rel, c)?.typeOid === 2950 && info.insertColumns.includes(c)) row[c] = randomUUID();
        const cols = info.insertColumns.filter((c) => Object.hasOwn(row, c)).map(ident).join(', ');
        return (await tx.query(`INSERT INTO ${t} (${cols}) SELECT ${cols} FROM jsonb_populate_record(NULL::${t}, $1::jsonb)`, [JSON.stringify(row)])).rowCount ?? 0;
      },
    );
    const what = `a row of tenant ${x} pointing at tenant ${y}'s ${target.table} row (type '${target.type}')`;
    if (rowCount === -1) return { kind: 'unprobed', detail: `${target.table} (${missing})` };
    if (rowCount === 0) return { kind: 'error', detail: `tenant ${x}'s row of ${pair.table} was not visible` };
    return { kind: 'accepted', detail: `${what} was accepted` };
  } catch (error) {
    if (isPgServerError(error) && error.code === '23503') return { kind: 'rejected', detail: target.table };
    // Stopped by something else before the pair could be judged (a policy, a check constraint, a unique key).
    if (isPgServerError(error)) return { kind: 'unprobed', detail: `${target.table} (stopped before the pair was checked: ${errorText(error)})` };
    return { kind: 'error', detail: `${target.table}: ${errorText(error)}` };
  }
}

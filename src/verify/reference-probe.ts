// The cross-tenant-reference probe: a row of tenant A pointed at tenant B's parent must be rejected (composite keys) or is reported.
import { foreignKeys } from '../db/catalog.js';
import { ident, qualified } from '../db/quote.js';
import { isPgServerError } from '../errors.js';
import { tableInfo } from './preconditions.js';
import { citusSetSql } from '../tenant/with-tenant.js';
import { existingRowOf, isRow, makeRowOf, readRow, rowOf, type RowLookup } from './probe-rows.js';
import { errorText, probeTx } from './probe-transaction.js';
import type { Outcome, TableProbeEnv } from './verify-types.js';

/** `cross-tenant-reference`: for each foreign key to a scoped table, point A's row at B's parent. */
export async function crossTenantReference(env: TableProbeEnv): Promise<Outcome> {
  const { manifest, catalog, info, a, b } = env;
  if (info.isTenantTable) return { status: 'n/a', detail: 'the tenant table references no scoped table' };
  const scoped = new Set(manifest.tables.map((t) => t.name));
  const fks = foreignKeys(info.rel).filter((fk) => fk.references && fk.references.schema === manifest.schema && scoped.has(fk.references.table));
  if (fks.length === 0) return { status: 'n/a', detail: 'no foreign key to a scoped table' };
  const t = qualified(manifest.schema, info.name);
  const accepted: string[] = [];
  const rejected: string[] = [];
  const unprobed: string[] = [];
  const errors: string[] = [];
  const sharedParents = new Set<string>();
  for (const fk of fks) {
    const ref = fk.references!;
    const pairs = fk.columns.map((col, i) => [col, ref.columns[i]] as const).filter(([col]) => col !== manifest.tenant.column);
    const parentInfo = tableInfo(manifest, catalog, ref.table, false);
    if (pairs.length === 0 || !parentInfo) continue;
    if (manifest.tables.some((x) => x.name === ref.table && x.sharedRows)) sharedParents.add(fk.name);
    let child = { problem: 'not looked up' } as RowLookup;
    let parent: Record<string, unknown> | undefined;
    let missing = '';
    try {
      const rowCount = await probeTx(
        env,
        a,
        async (tx) => {
          if (env.citus) {
            // Citus: only existing rows here; a missing one is made as the role (see below).
            child = (await existingRowOf(tx, info, a)) ?? { problem: 'to be made' };
            const p = await existingRowOf(tx, parentInfo, b);
            if (p) parent = await readRow(tx, { schema: manifest.schema, name: ref.table }, p);
            return;
          }
          child = await rowOf(tx, env, info, a);
          const p = await rowOf(tx, env, parentInfo, b);
          if (isRow(p)) parent = await readRow(tx, { schema: manifest.schema, name: ref.table }, p);
          missing = !isRow(child) ? child.problem : !isRow(p) ? p.problem : !parent ? `the parent row of tenant ${b} is not readable` : '';
        },
        async (tx) => {
          if (env.citus && (!isRow(child) || !parent)) {
            // Citus refuses a query as the role on a shard placement the verifying role modified in
            // the same transaction: rows are made as the role itself, each with its tenant set.
            const setTenant = async (tenant: string) => {
              for (const statement of citusSetSql(manifest.tenant.setting, tenant)) await tx.query(statement);
            };
            let p: RowLookup | undefined;
            if (!parent) {
              await setTenant(b);
              p = await makeRowOf(tx, env, parentInfo, b);
              if (isRow(p)) parent = await readRow(tx, { schema: manifest.schema, name: ref.table }, p);
            }
            await setTenant(a);
            if (!isRow(child)) child = await makeRowOf(tx, env, info, a);
            missing = !isRow(child) ? child.problem : p && !isRow(p) ? p.problem : !parent ? `the parent row of tenant ${b} is not readable` : '';
          }
          if (!isRow(child) || !parent) return -1;
          const sets = pairs.map(([col], i) => `${ident(col)} = $${i + 3}`).join(', ');
          const values = pairs.map(([, refCol]) => (parent![refCol] === null ? null : String(parent![refCol])));
          // On Citus the tenant column in the WHERE routes the UPDATE to A's shard (a ctid is per shard).
          const routed = env.citus ? ` AND x.${ident(manifest.tenant.column)} = $${pairs.length + 3}::${info.type}` : '';
          const sql = `UPDATE ${t} x SET ${sets} WHERE x.tableoid = $1::oid AND x.ctid = $2::tid${routed}`;
          return (await tx.query(sql, [child.tableoid, child.ctid, ...values, ...(env.citus ? [a] : [])])).rowCount ?? 0;
        },
      );
      if (rowCount === -1) unprobed.push(`${fk.name} (${missing})`);
      else if (rowCount === 0) errors.push(`${fk.name}: tenant ${a}'s row was not visible`);
      else accepted.push(fk.name);
    } catch (error) {
      if (isPgServerError(error) && error.code === '23503') rejected.push(fk.name);
      // Something else stopped the update before the foreign key was checked (a trigger, a unique key).
      else if (isPgServerError(error)) unprobed.push(`${fk.name} (stopped before the foreign key check: ${errorText(error)})`);
      else errors.push(`${fk.name}: ${errorText(error)}`);
    }
  }
  if (errors.length > 0) return { status: 'error', detail: errors.join('; ') };
  // A foreign key into a shared_rows table stays single-column (a shared row has no tenant to match);
  // with composite_keys, generate guards it with a constraint trigger (plan-shared-refs.ts), so an
  // accepted reference fails; without, it is reported like every other single-column key. The row
  // stays invisible to the referencing tenant (row-level security); only its existence is confirmed.
  const intoShared = accepted.filter((name) => sharedParents.has(name));
  const enforceable = accepted.filter((name) => !sharedParents.has(name));
  if (enforceable.length > 0) {
    const what = `a row of tenant ${a} could reference tenant ${b}'s parent through ${enforceable.join(', ')}`;
    return manifest.tenant.compositeKeys
      ? { status: 'fail', detail: `${what} (composite_keys is on: a (tenant, id) foreign key must reject it)` }
      : { status: 'reported', detail: `${what}; (tenant, id) composite foreign keys would reject it (composite_keys)` };
  }
  if (intoShared.length > 0 && manifest.tenant.compositeKeys) {
    return {
      status: 'fail',
      detail: `a row of tenant ${a} could reference tenant ${b}'s own row of a shared_rows table through ${intoShared.join(', ')} (composite_keys is on: the generated shared-rows reference trigger must reject it; run generate and migrate)`,
    };
  }
  if (intoShared.length > 0) {
    return {
      status: 'reported',
      detail: `a row of tenant ${a} could reference tenant ${b}'s own row of a shared_rows table through ${intoShared.join(', ')} (a composite key cannot allow the shared rows too; the referenced row stays invisible to ${a})`,
    };
  }
  const proven = rejected.length ? `rejected by ${rejected.join(', ')}` : '';
  if (unprobed.length > 0) return { status: 'unprobed', detail: [`not probed: ${unprobed.join(', ')}`, proven].filter(Boolean).join('; ') };
  if (!proven) return { status: 'n/a', detail: 'every foreign key to a scoped table is through the tenant column alone' };
  return { status: 'pass', detail: proven };
}

// The new-partition probe: a partition created now (in a rolled-back transaction) shows no other tenant's rows when queried directly.
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { ident, qualified } from '../db/quote.js';
import { isPgServerError } from '../errors.js';
import { tableInfo } from './preconditions.js';
import { errorText, probeTx, withSavepoint } from './probe-transaction.js';
import { isRow, rowOf } from './probe-rows.js';
import type { Finding } from './role-probes.js';
import type { ProbeEnv, TableInfo } from './verify-types.js';

/** A name for the probe's partition that no real table has (the transaction is rolled back anyway). */
function probeName(table: string): string {
  const hash = createHash('sha256').update(table, 'utf8').digest('hex').slice(0, 8);
  return `crm_tenancy_probe_${hash}`;
}

interface Prepared {
  partition: string;
  /** What the setup did, for the detail. */
  how: string;
  /** RLS flags and policy count the new partition got from the trigger. */
  rls: boolean;
  forced: boolean;
  policies: number;
}

/**
 * As the owner, inside the probe transaction: the leaf partition L holding a row of tenant `b`
 * (made for the probe when there is none) is detached, and a new partition N with L's exact
 * bound (RANGE, LIST, HASH or DEFAULT alike) is created in its place; the row is copied into N
 * and N gets the parent's SELECT grant for the role, as pg_partman copies grants. When the parent
 * has no partition at all, N is its DEFAULT partition (MODULUS 1 for HASH) and the row is made in it.
 */
async function newPartitionWithRow(tx: pg.ClientBase, env: ProbeEnv, info: TableInfo): Promise<Prepared | { problem: string }> {
  const schema = info.rel.schema;
  const parent = qualified(schema, info.name);
  const name = probeName(info.name);
  const target = qualified(schema, name);
  const strategy = await tx.query<{ partstrat: string }>(`SELECT partstrat FROM pg_catalog.pg_partitioned_table WHERE partrelid = $1::regclass`, [parent]);
  const leaves = await tx.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_catalog.pg_partition_tree($1::regclass) WHERE level > 0`,
    [parent],
  );
  let how: string;
  if (leaves.rows[0].n === 0) {
    const bound = strategy.rows[0]?.partstrat === 'h' ? 'FOR VALUES WITH (MODULUS 1, REMAINDER 0)' : 'DEFAULT';
    await tx.query(`CREATE TABLE ${target} PARTITION OF ${parent} ${bound}`);
    const row = await rowOf(tx, env, info, env.b);
    if (!isRow(row)) return { problem: `no row of tenant ${env.b} could be made: ${row.problem}` };
    how = `created ${schema}.${name} ${bound} (the table had no partition) with a row of tenant ${env.b}`;
  } else {
    const row = await rowOf(tx, env, info, env.b);
    if (!isRow(row)) return { problem: `no row of tenant ${env.b} could be had: ${row.problem}` };
    const leaf = await tx.query<{ schema: string; name: string; bound: string }>(
      `SELECT n.nspname AS schema, c.relname AS name, pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS bound
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1::oid`,
      [row.tableoid],
    );
    const l = leaf.rows[0];
    // The leaf may sit below a sub-partitioned partition: detach it from its own parent.
    const direct = await tx.query<{ schema: string; name: string }>(
      `SELECT pn.nspname AS schema, p.relname AS name FROM pg_catalog.pg_inherits i
         JOIN pg_catalog.pg_class p ON p.oid = i.inhparent JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace
        WHERE i.inhrelid = $1::oid`,
      [row.tableoid],
    );
    const directParent = qualified(direct.rows[0].schema, direct.rows[0].name);
    const leafName = qualified(l.schema, l.name);
    const cols = info.rel.columns.map((c) => ident(c.name)).join(', ');
    await tx.query(`ALTER TABLE ${directParent} DETACH PARTITION ${leafName}`);
    await tx.query(`CREATE TABLE ${target} PARTITION OF ${directParent} ${l.bound}`);
    await tx.query(`INSERT INTO ${target} (${cols}) SELECT ${cols} FROM ${leafName} WHERE ctid = $1::tid`, [row.ctid]);
    how = `replaced ${l.schema}.${l.name} by a new partition ${schema}.${name} ${l.bound} holding a row of tenant ${env.b}`;
  }
  await tx.query(`GRANT SELECT ON ${target} TO ${ident(env.role)}`);
  const flags = await tx.query<{ rls: boolean; forced: boolean; policies: number }>(
    `SELECT c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
            (SELECT count(*)::int FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid) AS policies
       FROM pg_catalog.pg_class c WHERE c.oid = $1::regclass`,
    [target],
  );
  return { partition: target, how, ...flags.rows[0] };
}

/**
 * `new-partition`: for each partitioned scoped table, creates a partition in the rolled-back
 * transaction (see newPartitionWithRow), then, as the role with tenant A set, reads the new
 * partition directly: any row of tenant B is a failure (the partition trigger is missing or
 * disabled). With `tenant.partition_trigger: false` a leak is `reported`, not failed (the manifest
 * chose to re-run generate + policies apply after every new partition). Takes the parent's lock
 * for a moment (ACCESS EXCLUSIVE, lock_timeout 5 s), like any CREATE TABLE … PARTITION OF.
 */
export async function newPartitionProbe(env: ProbeEnv): Promise<Finding[]> {
  const { manifest, catalog } = env;
  const names = [manifest.tenant.table, ...manifest.tables.map((t) => t.name)];
  const partitioned = names.filter((n) => {
    const info = n === manifest.tenant.table ? env.tenantInfo : tableInfo(manifest, catalog, n, false);
    return info?.rel.kind === 'partitioned-table';
  });
  if (partitioned.length === 0) return [{ table: 'tables', status: 'n/a', detail: 'no scoped table is partitioned' }];
  const out: Finding[] = [];
  for (const name of partitioned) {
    const table = `${manifest.schema}.${name}`;
    const info = name === manifest.tenant.table ? env.tenantInfo : tableInfo(manifest, catalog, name, false)!;
    let prepared: Prepared | { problem: string } | undefined;
    try {
      const seen = await probeTx(
        env,
        env.a,
        async (tx) => {
          try {
            prepared = await withSavepoint(tx, () => newPartitionWithRow(tx, env, info));
          } catch (error) {
            prepared = { problem: `could not create a partition: ${errorText(error)}` };
          }
        },
        async (tx) => {
          if (!prepared || 'problem' in prepared) return 0;
          const r = await tx.query(`SELECT count(*)::int AS n FROM ${prepared.partition} WHERE ${ident(info.column)} = $1::${info.type}`, [env.b]);
          return r.rows[0].n as number;
        },
      );
      if (!prepared || 'problem' in prepared) {
        out.push({ table, status: 'unprobed', detail: prepared?.problem ?? 'nothing was prepared' });
        continue;
      }
      const got = `it got ${prepared.rls ? 'row-level security' : 'NO row-level security'}${prepared.forced ? ' (forced)' : ''} and ${prepared.policies} polic${prepared.policies === 1 ? 'y' : 'ies'}`;
      if (seen === 0) {
        out.push({ table, status: 'pass', detail: `${prepared.how}; ${got}; with tenant ${env.a} set ${env.role} reads no row of tenant ${env.b} from it directly` });
      } else {
        const detail = `${prepared.how}; ${got}; with tenant ${env.a} set ${env.role} reads ${seen} row(s) of tenant ${env.b} from it directly`;
        out.push(
          manifest.tenant.partitionTrigger
            ? { table, status: 'fail', detail: `${detail}: run \`crm-tenancy policies apply\` as a superuser to install the partition trigger` }
            : { table, status: 'reported', detail: `${detail} (tenant.partition_trigger is false: run generate + policies apply after every new partition)` },
        );
      }
    } catch (error) {
      const lock = isPgServerError(error) && error.code === '55P03' ? ' (the parent is locked by another session)' : '';
      out.push({ table, status: 'error', detail: `${errorText(error)}${lock}` });
    }
  }
  return out;
}

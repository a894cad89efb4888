// The citus-unrouted report: per table, how many shard tasks a tenant-scoped query and an unfiltered one run (EXPLAIN, as the app role).
import type pg from 'pg';
import type { Manifest } from '../config/manifest.js';
import { ident, qualified } from '../db/quote.js';
import { withRollback } from '../db/transaction.js';
import { TenancyError } from '../errors.js';
import { citusSetSql } from '../tenant/with-tenant.js';
import { citusCoordinator } from './propagation.js';

/** One EXPLAINed query: its SQL (the tenant a parameter), the Citus task count, and the nodes of the tasks shown. */
export interface RoutedQuery {
  sql: string;
  /** Shard tasks Citus plans; null when the plan has no distributed part (a local table). */
  tasks: number | null;
  /** The worker nodes of the tasks EXPLAIN shows (all of them when there is one task). */
  nodes: string[];
}

export interface TableRouting {
  table: string;
  /** `distributed` (hash, by `distributionColumn`), `reference` (a copy on every node), `local` (coordinator only), `missing`. */
  kind: 'distributed' | 'reference' | 'local' | 'missing';
  distributionColumn?: string;
  /** `SELECT … WHERE <tenant column> = $1`: one task when the table is distributed by the tenant column. */
  tenantScoped?: RoutedQuery;
  /** The same query without the WHERE, the tenant still set: the policy filters, but every shard is asked. */
  unfiltered?: RoutedQuery;
  /** The tenant-scoped query runs on more than one shard: this access path fans out even when the application names the tenant. */
  unrouted: boolean;
  note: string;
}

export interface RoutingReport {
  /** The tenant set for the EXPLAINs (and compared in the tenant-scoped query). */
  tenant: string;
  role: string;
  tables: TableRouting[];
  /** Tables whose tenant-scoped query is not single-shard (distributed by another column, or left local while others are distributed). */
  unrouted: string[];
  /** Every distributed table's tenant-scoped query runs one task. */
  ok: boolean;
}

export interface RoutingOptions {
  manifest: Manifest;
  /** A tenant key (verify's tenant A). */
  tenant: string;
  /** The application role the EXPLAINs run as (default: the manifest's first). */
  role?: string;
}

/** Finds "Task Count" and the task nodes in a Citus EXPLAIN (FORMAT JSON) plan, wherever the distributed part sits. */
export function taskCount(plan: unknown): { tasks: number | null; nodes: string[] } {
  let tasks: number | null = null;
  const nodes: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const n of node) walk(n);
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    const o = node as Record<string, unknown>;
    if (typeof o['Task Count'] === 'number') tasks = (tasks ?? 0) + (o['Task Count'] as number);
    if (typeof o.Node === 'string' && /host=/.test(o.Node)) {
      const m = /host=(\S+) port=(\d+)/.exec(o.Node);
      nodes.push(m ? `${m[1]}:${m[2]}` : o.Node);
      // A task's remote plan is the worker's own: no Citus job inside.
      return;
    }
    for (const v of Object.values(o)) walk(v);
  };
  walk(plan);
  return { tasks, nodes: [...new Set(nodes)] };
}

/** A usage error (exit 2) unless the connection is a Citus coordinator. */
export async function assertCitusCoordinator(client: pg.ClientBase): Promise<void> {
  if (await citusCoordinator(client)) return;
  throw new TenancyError('usage', 'the citus-unrouted report needs a Citus coordinator; this database has no citus extension (or is a worker)', {
    hint: 'connect to the coordinator, or leave out --target citus',
  });
}

/**
 * The `citus-unrouted` report: for the tenant table and every scoped table, EXPLAIN (FORMAT JSON) of
 * `SELECT * FROM t WHERE <tenant column> = $1` and of `SELECT * FROM t`, as the application role with
 * the tenant set (SET LOCAL, as withTenant's `citus: true`), in a rolled-back transaction. Row-level
 * security keeps the unfiltered query correct, but Citus routes on the WHERE clause only: without it
 * every shard is asked. Runs nothing but EXPLAIN (no ANALYZE). Needs a Citus coordinator.
 */
export async function citusRouting(client: pg.ClientBase, options: RoutingOptions): Promise<RoutingReport> {
  const { manifest, tenant } = options;
  const role = options.role ?? manifest.roles.app[0];
  await assertCitusCoordinator(client);
  // partmethod 'h': hash-distributed; 'n' with repmodel 't': a reference table; other 'n': a Citus local table.
  const { rows: dist } = await client.query<{ name: string; method: string; column: string | null }>(
    `SELECT c.relname AS name, CASE WHEN p.partmethod = 'n' AND p.repmodel <> 't' THEN 'l' ELSE p.partmethod::text END AS method,
            CASE WHEN p.partmethod = 'h' THEN column_to_column_name(p.logicalrelid, p.partkey) END AS column
       FROM pg_dist_partition p JOIN pg_catalog.pg_class c ON c.oid = p.logicalrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1`,
    [manifest.schema],
  );
  const { rows: present } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')`,
    [manifest.schema],
  );
  const byName = new Map(dist.map((d) => [d.name, d]));
  const exists = new Set(present.map((p) => p.name));
  const names = [manifest.tenant.table, ...manifest.tables.map((t) => t.name)];
  const tables: TableRouting[] = [];
  await withRollback(client, async (tx) => {
    await tx.query(`SET LOCAL ROLE ${ident(role)}`);
    for (const statement of citusSetSql(manifest.tenant.setting, tenant)) await tx.query(statement);
    for (const name of names) {
      const column = name === manifest.tenant.table ? manifest.tenant.key : manifest.tenant.column;
      if (!exists.has(name)) {
        tables.push({ table: name, kind: 'missing', unrouted: false, note: `${manifest.schema}.${name} does not exist` });
        continue;
      }
      const d = byName.get(name);
      // A Citus local table (method 'l') runs on the coordinator only, like a plain table.
      const kind: TableRouting['kind'] = !d || d.method === 'l' ? 'local' : d.method === 'h' ? 'distributed' : 'reference';
      const t = qualified(manifest.schema, name);
      const scopedSql = `SELECT * FROM ${t} WHERE ${ident(column)} = $1`;
      const allSql = `SELECT * FROM ${t}`;
      const explain = async (sql: string, params: string[]): Promise<RoutedQuery> => {
        const { rows } = await tx.query(`EXPLAIN (FORMAT JSON) ${sql}`, params);
        return { sql, ...taskCount(rows[0]['QUERY PLAN']) };
      };
      const tenantScoped = await explain(scopedSql, [tenant]);
      const unfiltered = await explain(allSql, []);
      const entry: TableRouting = { table: name, kind, tenantScoped, unfiltered, unrouted: false, note: '' };
      if (kind === 'distributed') {
        entry.distributionColumn = d!.column ?? undefined;
        entry.unrouted = tenantScoped.tasks !== 1;
        entry.note = entry.unrouted
          ? `distributed by ${d!.column}, not ${column}: naming the tenant does not route (${tenantScoped.tasks} tasks)`
          : `routed by ${column}; without it every shard`;
      } else if (kind === 'reference') {
        entry.note = 'reference table: a copy on every node, one task either way';
      } else {
        // A local table joined with distributed ones is the slow path Citus warns about.
        entry.unrouted = dist.some((x) => x.method === 'h');
        entry.note = entry.unrouted ? 'not distributed: on the coordinator only, while other tables are distributed' : 'not distributed (no table is)';
      }
      tables.push(entry);
    }
  });
  const unrouted = tables.filter((t) => t.unrouted).map((t) => t.table);
  return { tenant, role, tables, unrouted, ok: unrouted.length === 0 };
}

// Turns the selected checks into tasks (one query or analysis each) that the runner spreads over its connections.
import type pg from 'pg';
import { TenancyError } from '../errors.js';
import { POLICY_CHECKS, type PolicyCheckContext } from './check-registry.js';
import { fuseGroup, fuseScans, type DataPlan, type TableScan } from './data-checks.js';
import { chooseShape, lookupEnvironment, probeLookup, type LookupEnvironment, type LookupShape, type LookupStats } from './direct-lookup.js';
import type { RawFinding } from './policy-checks.js';
import { CATALOG_COLUMNS, type CheckDefinition } from './types.js';

export interface Task {
  check: string;
  /** Estimated rows a data query reads: the runner starts the biggest first. */
  rows?: number;
  /** The tables a data query reads (run log). */
  target?: string;
  /** A data query (a scan or join of table rows) rather than a catalog read. */
  data?: boolean;
  run: (client: pg.ClientBase) => Promise<(RawFinding & { check?: string })[]>;
  /**
   * A task that needs other tasks' results (an incremental table query needs its parents' changed
   * keys): false until they are in. The runner gives a lane a ready task instead of letting it wait.
   */
  ready?: () => boolean;
  /** Settles when `ready` turns true. */
  whenReady?: () => Promise<unknown>;
}

/** A catalog check: its SQL as it is; its columns must be the contract's, or the runner would misread its rows. */
function catalogTask(check: CheckDefinition, run: (client: pg.ClientBase, sql: string) => Promise<pg.QueryResult>): Task {
  return {
    check: check.id,
    run: async (client) => {
      const result = await run(client, check.sql);
      const columns = result.fields.map((f) => f.name);
      if (columns.join(',') !== CATALOG_COLUMNS.join(',')) {
        throw new TenancyError('internal', `${check.file} returns the columns (${columns.join(', ')}), not (${CATALOG_COLUMNS.join(', ')})`);
      }
      return result.rows as RawFinding[];
    },
  };
}

/** Catalog and policy checks: one task each. Data checks come from the plan (`dataTasks`). */
export function checkTasks(
  checks: readonly CheckDefinition[],
  run: (client: pg.ClientBase, sql: string) => Promise<pg.QueryResult>,
  policy: Omit<PolicyCheckContext, 'rows'>,
): Task[] {
  const context: PolicyCheckContext = { ...policy, rows: async (client, sql) => (await run(client, sql)).rows };
  const tasks: Task[] = [];
  for (const check of checks) {
    if (check.kind === 'catalog') tasks.push(catalogTask(check, run));
    else if (check.kind === 'policy') tasks.push({ check: check.id, run: (client) => POLICY_CHECKS[check.id](client, check, context) });
  }
  return tasks;
}

/** Asks a scan's trigger (in the task's snapshot): when it answers, its proofs become proven. */
async function provenAtRunTime(c: pg.ClientBase, scan: TableScan): Promise<boolean> {
  if (!scan.provenBy || ((await c.query(scan.provenBy.sql, scan.provenBy.values)).rowCount ?? 0) === 0) return false;
  for (const proof of scan.provenBy.proofs) Object.assign(proof, { status: 'proven', proof: scan.provenBy.proof });
  return true;
}

/**
 * The data scans (each child table's pieces merged into one query, fuseScans) and duplicate
 * queries of a plan: counts and the first bad rows' ids in one pass, then their keys by ctid.
 */
export function dataTasks(plan: DataPlan, schema: string, tenantColumn: string, known?: LookupEnvironment): Task[] {
  const tasks: Task[] = [];
  // Each lookup table is probed once per run (in the run's one snapshot), whichever scan asks first;
  // what rules lookups out for the whole run is asked once (or given: the runner asks it first).
  let environment: Promise<LookupEnvironment> | undefined = known && Promise.resolve(known);
  const probes = new Map<string, Promise<LookupStats>>();
  const shapesFor = async (c: pg.ClientBase, pieces: readonly TableScan[]): Promise<Map<string, LookupShape>> => {
    const shapes = new Map<string, LookupShape>();
    for (const piece of pieces) {
      const lookup = piece.fuse?.lookup;
      if (!lookup || shapes.has(lookup.spec.id)) continue;
      let probe = probes.get(lookup.spec.id);
      if (!probe) {
        environment ??= lookupEnvironment(c);
        probe = environment.then((env) => probeLookup(c, lookup.spec, env));
        probes.set(lookup.spec.id, probe);
      }
      const shape = chooseShape(await probe, piece.fuse!.rows, lookup.spec.width);
      if (shape) shapes.set(lookup.spec.id, shape);
    }
    return shapes;
  };
  for (const scan of fuseScans(plan.scans)) {
    tasks.push({
      check: [...new Set(scan.parts.map((p) => p.check))].join(', '),
      target: scan.target,
      rows: scan.rows,
      data: true,
      run: async (c) => {
        let query = scan;
        if (scan.pieces) {
          // A fused scan: the pieces a trigger proves are left out of the query (all of them: no query).
          const left: TableScan[] = [];
          for (const piece of scan.pieces) if (!(await provenAtRunTime(c, piece))) left.push(piece);
          if (left.length === 0) return [];
          const shapes = await shapesFor(c, left);
          if (left.length < scan.pieces.length || shapes.size > 0) query = fuseGroup(left, shapes);
        } else if (await provenAtRunTime(c, scan)) return [];
        const row = (await c.query(query.sql, query.values)).rows[0] as Record<string, string>;
        const out: (RawFinding & { check: string })[] = [];
        for (const [i, part] of query.parts.entries()) {
          const count = Number(row[`c${i}`]);
          if (count === 0) continue;
          // The first 5 bad rows in table order (ctid, or tableoid:ctid on a partitioned table, where
          // ctids repeat across partitions: matched on the whole id); their keys by a TID scan.
          const ids = (row[`m${i}`] as unknown as string[] | null) ?? [];
          const fetched = (await c.query({ text: part.sampleSql, values: [ids.map((id) => id.slice(id.indexOf(':') + 1))], rowMode: 'array' })).rows as unknown[][];
          const keys = new Map(fetched.map((r) => [r[0] as string, r.slice(1)]));
          const samples = ids.filter((id) => keys.has(id)).map((id) => {
            const key = keys.get(id)!;
            return key.length === 1 ? key[0] : key;
          });
          out.push({ table_name: part.table, object: part.object, count, samples, message: part.describe(count, row), severity: null, check: part.check });
        }
        return out;
      },
    });
  }
  for (const dup of plan.duplicates) {
    tasks.push({
      check: dup.check,
      target: dup.table,
      rows: dup.rows,
      data: true,
      run: async (c) => {
        const row = (await c.query(dup.sql)).rows[0] as { groups: string; extra: string; samples: unknown[] | null };
        const groups = Number(row.groups);
        if (groups === 0) return [];
        const key = dup.singleton ? 'singleton' : `unique (${dup.columns.join(', ')})`;
        return [
          {
            table_name: dup.table,
            object: dup.singleton ? tenantColumn : [tenantColumn, ...dup.columns].join(', '),
            count: groups,
            samples: row.samples ?? [],
            message: `${schema}.${dup.table}: ${groups} group${groups === 1 ? '' : 's'} violate${groups === 1 ? 's' : ''} the per-tenant ${key} key (${row.extra} surplus row${row.extra === '1' ? '' : 's'})`,
            severity: null,
          },
        ];
      },
    });
  }
  return tasks;
}

// The fix a NULL-tenant refusal names: backfill when a source can place the rows, else what can.
import type { Queryable } from '../db/connection.js';
import type { Manifest } from '../config/manifest.js';
import { resolveLiveContext, type LiveContext } from '../config/live-context.js';
import { buildBackfillPlan } from '../backfill/backfill-plan.js';
import { remainingCountsSql } from '../backfill/backfill-sql.js';
import type { Remedy } from './remedies.js';

/** How the NULL-tenant rows of one table stand against its backfill sources. */
export interface NullTenantRows {
  /** One source places the row: backfill fills it. */
  fillable: number;
  /** Sources disagree: backfill leaves it NULL and reports a conflict. */
  conflicts: number;
  /** No source places it: backfill leaves it NULL and reports an orphan. */
  orphans: number;
  /** The manifest lists no backfill source for the table. */
  noPath: boolean;
  /** A parent it derives from still has NULL tenants: backfill fills parents first, then these. */
  parentsPending: boolean;
}

/** Counts the table's NULL-tenant rows by what backfill would do with them (same SQL as backfill's report). */
export async function classifyNullTenants(
  db: Queryable,
  live: LiveContext,
  table: string,
  tablesWithNulls: ReadonlySet<string>,
): Promise<NullTenantRows> {
  const entry = live.manifest.tables.find((t) => t.name === table);
  const plan = buildBackfillPlan(live, table).groups.flatMap((g) => g.tables)[0];
  const r = await db.query<{ orphans: string; conflicts: string; pending: string }>(remainingCountsSql(plan));
  const row = r.rows[0];
  return {
    fillable: Number(row.pending),
    conflicts: Number(row.conflicts),
    orphans: Number(row.orphans),
    // Polymorphic pairs are backfill paths too (backfill fills through them).
    noPath: (entry?.backfill.length ?? 0) === 0 && (entry?.polymorphic.length ?? 0) === 0,
    parentsPending: plan.sources.some((s) => !s.parentIsTenantTable && tablesWithNulls.has(s.parentTable)),
  };
}

/** What fixes one table's NULL tenants, by what backfill would do with its rows. */
export function nullTenantRemedies(table: string, rows: NullTenantRows): Remedy[] {
  if (rows.noPath) return [{ kind: 'place-orphans', table, rows: null, noPath: true }];
  const out: Remedy[] = [];
  const orphansWait = rows.parentsPending;
  if (rows.fillable > 0 || (orphansWait && rows.orphans > 0)) out.push({ kind: 'backfill', table });
  if (rows.conflicts > 0) out.push({ kind: 'resolve-conflicts', table, rows: rows.conflicts });
  if (rows.orphans > 0 && !orphansWait) out.push({ kind: 'place-orphans', table, rows: rows.orphans, noPath: false });
  return out.length > 0 ? out : [{ kind: 'backfill', table }];
}

/**
 * The fix of every table with NULL tenants, by what backfill would do with its rows. A table the
 * live context cannot plan (manifest and database disagree) keeps the plain backfill command.
 */
export async function nullTenantFixes(db: Queryable, manifest: Manifest, tables: readonly string[]): Promise<Map<string, Remedy[]>> {
  const out = new Map<string, Remedy[]>();
  if (tables.length === 0) return out;
  let live: LiveContext;
  try {
    live = await resolveLiveContext(db, manifest);
  } catch {
    return out;
  }
  const withNulls = new Set(tables);
  for (const table of tables) {
    try {
      out.set(table, nullTenantRemedies(table, await classifyNullTenants(db, live, table, withNulls)));
    } catch {
      // No plan for this table (e.g. no primary key): the plain backfill command stays.
    }
  }
  return out;
}

// Direct lookups: a data check reads the referenced row's value from an array indexed by the key
// instead of a hash join, where the key is an integer and the array is cheap to build.
import type pg from 'pg';
import type { CatalogTable } from '../db/catalog.js';
import { ident } from '../db/quote.js';

/**
 * Why. Each LEFT JOIN of a child scan costs a hash probe per child row, and those probes are most of
 * a full audit's time (data-checks.ts). When the parent's key is an integer, its rows' values (the
 * tenant, for cross-tenant-reference; the key itself, for unknown-tenant) can sit in one array at
 * position key - lo + 1, and a child row reads its parent's value by subscript. Measured (bench
 * shapes at 10M rows, PostgreSQL 15, 2 cores, 2026-12-02, psql, same query side by side): a 4M-row
 * child against its 3M-row parent 0.66-0.91 s with the array built inside the query vs 1.47-2.13 s
 * for the hash join (also with the child's keys in random order: 0.85-0.91 vs 1.95-2.13 s); a 5M-row
 * child against two parents (3M and 100k rows) 1.32 s vs 2.9 s. The array is built once per query in a
 * MATERIALIZED CTE and read through InitPlans, which the leader evaluates once and hands to the
 * parallel workers (a bound-parameter array would be a plan constant, printed into every worker's
 * plan: 2.2 s against 1.0-1.3 s for the same query).
 *
 * When. Decided per parent at run time, in the audit's snapshot, by `probeLookup` (one scan of the
 * parent: its key's count, min and max): an array is only worth building, and only positional, when
 * - the keys are gap-free (count = max - min + 1): the values in key order are the array (`compact`,
 *   ~0.17 µs per parent row); or the span is small (≤ MAX_FILL_ENTRIES, or a quarter of the child's
 *   rows): positions without a row are filled (`fill`, a generate_series join, ~0.7 µs per entry);
 * - the array is at most MAX_LOOKUP_BYTES (4M entries of an integer tenant). Memory, measured: the
 *   backend that builds a 12 MB array (3M integers) held 76 MB during the query (the aggregate's
 *   build state, the CTE's copy, the InitPlans' copies); each parallel worker gets the array too;
 * - no row holds the value that marks "no row" (the type's minimum): else the hash join;
 * - the database has no Citus (there the scans join as before), and the audit's snapshot is one for
 *   the whole run (not so inside a caller's READ COMMITTED transaction: joins there too).
 * Otherwise, and for any other key or value type, the check keeps its join: same counts either way
 * (test/audit/direct-lookup.test.ts runs both on the same rows).
 *
 * Order. `compact` aggregates the rows of a subquery ordered by the key (the way PostgreSQL's
 * documentation gives to feed an aggregate in order; `fill` orders inside the aggregate). A subquery with ORDER BY is not pulled up and offers no partial
 * path, so the aggregate is never split over parallel workers (the test asserts the plan has no
 * Partial Aggregate on both server versions, with parallel costs forced to zero).
 */
export const MAX_LOOKUP_BYTES = 16 * 1024 * 1024;
/** Spans with gaps filled when at most this many entries (or a quarter of the child's rows). */
export const MAX_FILL_ENTRIES = 262_144;

/** Integer types a lookup handles, with the value that marks "no row" (their minimum). */
const INTEGER_TYPES = new Map<number, { name: string; absent: string; width: number }>([
  [21, { name: 'int2', absent: '-32768', width: 2 }],
  [23, { name: 'int4', absent: '-2147483648', width: 4 }],
  [20, { name: 'int8', absent: '-9223372036854775808', width: 8 }],
]);

export const isIntegerType = (typeOid: number): boolean => INTEGER_TYPES.has(typeOid);
/** Bytes of an integer type (2, 4, 8); undefined for any other type. */
export const integerWidth = (typeOid: number): number | undefined => INTEGER_TYPES.get(typeOid)?.width;

/** What to look up: `value` of `table`'s row whose unique integer `key` is the child's column. */
export interface LookupSpec {
  /** One build per (table, key, value) in a query; one probe per run. */
  id: string;
  /** Quoted, qualified table. */
  table: string;
  key: string;
  value: string;
  /** The value's type name (int2, int4, int8) and its "no row" mark, as SQL literals. */
  valueType: string;
  absent: string;
  /** Bytes per entry (the value type's size). */
  width: number;
}

/**
 * A lookup of `table`.`value` by `key`, when both are integer columns of a plain table; else undefined
 * (the check joins). The caller makes sure a unique index covers `key` alone: positions assume one row per key.
 */
export function lookupSpec(qualifiedTable: string, table: CatalogTable, key: string, value: string): LookupSpec | undefined {
  const keyColumn = table.columns.find((c) => c.name === key);
  const valueColumn = table.columns.find((c) => c.name === value);
  const valueType = valueColumn ? INTEGER_TYPES.get(valueColumn.typeOid) : undefined;
  if (!keyColumn || !valueType || !isIntegerType(keyColumn.typeOid) || table.kind !== 'table') return undefined;
  return { id: JSON.stringify([qualifiedTable, key, value]), table: qualifiedTable, key: ident(key), value: ident(value), valueType: valueType.name, absent: `'${valueType.absent}'::${valueType.name}`, width: valueType.width };
}

/** The parent's key range, from `probeLookup`. */
export interface LookupStats {
  rows: bigint;
  lo: bigint | null;
  hi: bigint | null;
  /** Rows whose value is the "no row" mark. */
  clash: bigint;
  /**
   * The database has Citus: joins as before (a CTE's array would be an intermediate result shipped to
   * every shard query, and its row order across nodes is not this file's to promise).
   */
  citus?: boolean;
  /**
   * The caller's transaction is READ COMMITTED (an audit run on a caller's client inside its
   * transaction): each statement sees a new snapshot, so the array could be built over other rows
   * than the probe counted (a deleted row shifts every position after it). Joins as before.
   */
  statementSnapshots?: boolean;
}

/** What rules lookups out for a whole run, whatever the table (LookupStats' citus and statementSnapshots). */
export type LookupEnvironment = Pick<LookupStats, 'citus' | 'statementSnapshots'>;

/** Asked once per run (the same for every table of it). */
export async function lookupEnvironment(client: pg.ClientBase): Promise<LookupEnvironment> {
  const { citus, iso } = (
    await client.query<{ citus: boolean; iso: string }>(
      `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus') AS citus, pg_catalog.current_setting('transaction_isolation') AS iso`,
    )
  ).rows[0];
  return { citus, statementSnapshots: iso === 'read committed' };
}

/** One scan of the table, in the caller's snapshot (the audit's); none where `env` rules lookups out. */
export async function probeLookup(client: pg.ClientBase, spec: LookupSpec, env?: LookupEnvironment): Promise<LookupStats> {
  const { citus, statementSnapshots } = env ?? (await lookupEnvironment(client));
  if (citus || statementSnapshots) return { rows: 0n, lo: null, hi: null, clash: 0n, citus, statementSnapshots };
  const { rows } = await client.query<{ n: string; lo: string | null; hi: string | null; clash: string }>(
    `SELECT count(*)::text AS n, min(p.${spec.key})::text AS lo, max(p.${spec.key})::text AS hi,
            count(*) FILTER (WHERE p.${spec.value} = ${spec.absent})::text AS clash
       FROM ${spec.table} p WHERE p.${spec.key} IS NOT NULL`,
  );
  const r = rows[0];
  return { rows: BigInt(r.n), lo: r.lo === null ? null : BigInt(r.lo), hi: r.hi === null ? null : BigInt(r.hi), clash: BigInt(r.clash) };
}

export interface LookupShape {
  kind: 'compact' | 'fill';
  lo: string;
  hi: string;
}

/** Whether (and how) to build the array of `width`-byte entries for a child of about `childRows` rows (0: unknown). */
export function chooseShape(stats: LookupStats, childRows: number, width: number): LookupShape | null {
  if (stats.citus || stats.statementSnapshots || stats.lo === null || stats.hi === null || stats.clash > 0n) return null;
  const span = stats.hi - stats.lo + 1n;
  if (span * BigInt(width) > BigInt(MAX_LOOKUP_BYTES)) return null;
  const shape = { lo: stats.lo.toString(), hi: stats.hi.toString() };
  if (stats.rows === span) return { kind: 'compact', ...shape };
  if (span <= BigInt(Math.max(MAX_FILL_ENTRIES, Math.floor(childRows / 4)))) return { kind: 'fill', ...shape };
  return null;
}

/**
 * The CTE body that builds the array (one column, `a`); `lo` and `hi` are the placeholders of the
 * bound key range (the probe's, same snapshot).
 */
export function lookupCteBody(spec: LookupSpec, shape: LookupShape, lo: string, hi: string): string {
  if (shape.kind === 'compact') {
    return `SELECT array_agg(coalesce(s.v, ${spec.absent})) AS a FROM (SELECT p.${spec.value} AS v FROM ${spec.table} p WHERE p.${spec.key} IS NOT NULL ORDER BY p.${spec.key}) s`;
  }
  return `SELECT array_agg(coalesce(p.${spec.value}, ${spec.absent}) ORDER BY g.k) AS a FROM generate_series(${lo}::int8, ${hi}::int8) AS g(k) LEFT JOIN ${spec.table} p ON p.${spec.key} = g.k`;
}

/**
 * The looked-up value of the row whose key is `column` (an expression over the child, alias t): NULL
 * when the key is NULL, outside the range or names no row, or the row's value is NULL — what the
 * LEFT JOIN's `p.value` would be.
 */
export function lookedUp(spec: LookupSpec, column: string, array: string, lo: string, hi: string): string {
  return `nullif(CASE WHEN ${column} BETWEEN ${lo}::int8 AND ${hi}::int8 THEN ${array}[(${column} - ${lo}::int8 + 1)::int4] END, ${spec.absent})`;
}

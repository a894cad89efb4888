// `audit --since PREVIOUS.json`: decides, per data-check answer, whether the rows changed since the
// previous audit's snapshot are enough, and builds one query per table over its changed rows.
//
// Changed rows: a row version whose xmin is not older than the previous snapshot's xmin. Older
// xids were all finished when that snapshot was taken, so an older, visible version was visible to
// it. The cut is xmin, not xmax and the in-progress list: a row written by a subtransaction of a
// transaction in progress then has a subtransaction id, which the snapshot's xip list does not hold
// (pg_current_snapshot() lists top-level ids), so "below xmax and not in xip" would call it old.
// Rows committed between xmin and xmax are read again: a small superset, never a miss.
// 32-bit xmin against the 64-bit snapshot: `age(t.xmin) <= age(S.xmin)`, both against the same
// reference (the transaction's stable latest xid), is xmin >= S.xmin whenever the distance from
// S.xmin to now is below 2^31; the run falls back to full beyond 2^30 (wraparound distance). A
// frozen tuple keeps its raw xmin (PostgreSQL ≥ 9.4, checked on 15 in the tests); one frozen the
// pre-9.4 way (xmin 2) has age INT_MAX: old, as it is. A very old raw xmin may compare as new:
// read again, never missed.
import type pg from 'pg';
import { findRelation, type Catalog } from '../../db/catalog.js';
import type { Manifest } from '../../config/manifest.js';
import { ident, qualified } from '../../db/quote.js';
import { dataTasks, type Task } from '../audit-tasks.js';
import type { LookupEnvironment } from '../direct-lookup.js';
import type { DataPlan, DuplicateQuery, TableScan } from '../data-checks.js';
import type { RawFinding } from '../policy-checks.js';
import type { CheckDefinition, Finding } from '../types.js';
import { globalFingerprint, readIdentity, readTableFingerprints, type SnapshotIdentity } from './capture.js';
import type { AuditSnapshot, IncrementalReport, IncrementalTable, PreviousAudit } from './types.js';
import { CHANGED, incrementalUnits, pairSql, ROWS, unitKey, type PairType, type UnitSpec } from './units.js';

/** Beyond this many transactions since the previous snapshot, re-check in full (age() is exact below 2^31). */
export const MAX_XID_DISTANCE = 2n ** 30n;
/** The tenant table's keys are recorded up to this many rows (unknown-tenant's incremental form needs them). */
export const MAX_TENANT_KEYS = 50_000;

type Element = { scan: TableScan } | { dup: DuplicateQuery };

interface Unit {
  key: string;
  check: string;
  table: string;
  object: string | null;
  element: Element;
  reason?: string;
}

export interface IncrementalHook {
  /** The plan with the answers that run incrementally taken out (what still runs as in a full audit). */
  plan: DataPlan;
  /** One query per table over its changed rows (they re-run an answer in full when they find something). */
  tasks: Task[];
  /** After the run: the snapshot block for a later --since, and this run's report (with --since). */
  finish(findings: readonly Finding[]): { snapshot: AuditSnapshot; report?: IncrementalReport };
}

/**
 * Why no run on a database with Citus can serve or use --since: the rows of distributed and
 * reference tables live on the worker nodes, stamped with the workers' own transaction ids, which
 * the coordinator's snapshot cannot order (a row changed there may look old).
 */
export const CITUS_UNUSABLE = 'Citus is installed: rows on its worker nodes carry the workers\u2019 own transaction ids, which this snapshot cannot order';

export interface IncrementalOptions {
  manifest: Manifest;
  /** What rules direct lookups and the xmin cut out for the run (lookupEnvironment: Citus installed…). */
  environment: LookupEnvironment;
  catalog: Catalog;
  plan: DataPlan;
  /** Every check of the installation (the data checks' SQL is part of the fingerprint). */
  allChecks: readonly CheckDefinition[];
  previous?: PreviousAudit;
}

const unitsOf = (element: Element, tenantColumn: string) =>
  'scan' in element
    ? element.scan.parts.map((p) => ({ check: p.check, table: p.table, object: p.object }))
    : [{ check: element.dup.check, table: element.dup.table, object: [tenantColumn, ...element.dup.columns].join(', ') }];

/**
 * Why every answer must run in full, comparing the previous snapshot with this one (`cannotCut`:
 * why this run cannot cut by xmin at all); undefined when none.
 */
export function globalReason(previous: PreviousAudit, now: SnapshotIdentity, global: string, cannotCut?: string): string | undefined {
  const prev = previous.snapshot;
  if (cannotCut) return cannotCut;
  if (!prev) return previous.problem ?? `${previous.file} carries no snapshot block`;
  if (prev.unusable) return `the previous audit cannot serve: ${prev.unusable}`;
  if (!now.system) return `this audit cannot identify its database: ${now.unusable}`;
  if (prev.system !== now.system) return `another cluster (system identifier ${now.system}, the previous audit's ${prev.system})`;
  if (prev.database !== now.database) return `another database (oid ${now.database}, the previous audit's ${prev.database}: a copy or a restore)`;
  if (prev.timeline !== now.timeline) return `another timeline (${now.timeline}, the previous audit's ${prev.timeline}): a point-in-time restore or a promotion since`;
  if (BigInt(now.xmax) < BigInt(prev.xmax) || lsnValue(now.lsn) < lsnValue(prev.lsn)) {
    return 'the transaction counter or WAL position is behind the previous audit\u2019s: a restored copy';
  }
  const distance = BigInt(now.xmax) - BigInt(prev.xmin);
  if (distance >= MAX_XID_DISTANCE) return `transaction ID wraparound distance: ${distance} transactions since the previous audit (limit ${MAX_XID_DISTANCE})`;
  if (prev.global !== global) return 'the manifest, the data checks\u2019 SQL or the server\u2019s major version changed';
  return undefined;
}

function lsnValue(lsn: string): bigint {
  const [hi, lo] = lsn.split('/');
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
}

/** Why one answer must run in full (its tables' catalog, the previous run's result for it); undefined when it can run incrementally. */
function unitReason(schema: string, spec: UnitSpec | undefined, prev: AuditSnapshot, now: AuditSnapshot['tables'], prevUnit: AuditSnapshot['units'][number] | undefined): string | undefined {
  if (!spec) return 'no incremental form for this answer';
  if (spec.full) return spec.full;
  for (const t of spec.tables) {
    const before = prev.tables[`${schema}.${t}`];
    const after = now[`${schema}.${t}`];
    if (!before) return `no catalog fingerprint of ${t} in the previous audit`;
    if (!after) return `${t} is gone`;
    if (before.relfilenode !== after.relfilenode) return `${t} was rewritten (VACUUM FULL, CLUSTER, TRUNCATE or a rewriting ALTER TABLE)`;
    if (before.catalog !== after.catalog) return `the catalog of ${t} changed (columns, constraints, indexes, triggers or partitions)`;
  }
  if (!prevUnit) return 'not checked by the previous audit';
  if (prevUnit.status === 'proven') return 'the previous audit proved it from constraints without reading the rows';
  if (prevUnit.status === 'findings') return 'the previous audit had findings for this check';
  return undefined;
}

/**
 * Reads this audit's identity and catalog fingerprints (for the snapshot block of every audit) and,
 * with `previous`, takes the answers that can run incrementally out of the plan.
 */
export async function prepareIncremental(client: pg.ClientBase, options: IncrementalOptions): Promise<IncrementalHook> {
  const { manifest, catalog, plan, previous } = options;
  const { schema, tenant } = manifest;
  const names = [...new Set([...manifest.tables.map((t) => t.name), tenant.table])];
  const cannotCut = options.environment.citus ? CITUS_UNUSABLE : undefined;
  const identity = await readIdentity(client);
  if (cannotCut) identity.unusable = cannotCut;
  const fingerprints = await readTableFingerprints(client, schema, names);
  const global = globalFingerprint(manifest, options.allChecks, catalog.serverVersion);
  const xmin32 = previous?.snapshot ? String(BigInt(previous.snapshot.xmin) & 0xffffffffn) : undefined;

  const elements: Element[] = [...plan.scans.map((scan) => ({ scan })), ...plan.duplicates.map((dup) => ({ dup }))];
  const units: Unit[] = elements.flatMap((element) =>
    unitsOf(element, tenant.column).map((u) => ({ ...u, key: unitKey(u.check, u.table, u.object), element })),
  );
  // unknown-tenant is an anti-join: a tenant row deleted (or its key changed) since S can make an
  // unchanged row name no tenant: every row of S must still be there. The rows older than S (the
  // xmin cut) are all rows of S; when there are as many as S had, they are all of them and nothing
  // is gone. Fewer: some row of S was deleted or updated, or (with a transaction open somewhere
  // during S) a row of S is newer than the cut; then S's keys (recorded, up to MAX_TENANT_KEYS
  // rows) are looked up now.
  const tenantFingerprint = fingerprints[`${schema}.${tenant.table}`];
  const tenantTable = qualified(schema, tenant.table);
  const tenantKeyText = `t.${ident(tenant.key)}::text`;
  const tasks: Task[] = [];
  if (tenantFingerprint && units.some((u) => u.check === 'unknown-tenant')) {
    // For a later --since, recorded on a connection the data queries leave idle (the catalog one).
    tasks.push({
      check: 'unknown-tenant',
      target: `${tenant.table} (its row count and keys, for a later --since)`,
      run: async (c) => {
        const { rows } = await c.query<{ n: string; keys: string[] | null }>(
          `SELECT count(*) AS n, CASE WHEN count(*) <= ${MAX_TENANT_KEYS} THEN array_agg(${tenantKeyText} ORDER BY ${tenantKeyText}) END AS keys FROM ${tenantTable} t`,
        );
        tenantFingerprint.rows = Number(rows[0].n);
        if (rows[0].keys) tenantFingerprint.keys = rows[0].keys;
        return [];
      },
    });
  }
  /** How many rows of the tenant table in S are gone (deleted or updated); undefined when that cannot be told. */
  const lostTenantRows = async (before: AuditSnapshot['tables'][string] | undefined): Promise<number | undefined> => {
    const keys = Array.isArray(before?.keys) ? before.keys : undefined;
    const rowsBefore = typeof before?.rows === 'number' ? before.rows : keys?.length;
    if (rowsBefore !== undefined) {
      const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${tenantTable} t WHERE NOT ${changedSql('t')}`, [xmin32]);
      if (Number(rows[0].n) === rowsBefore) return 0;
    }
    if (!keys) return undefined;
    const { rows } = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM unnest($1::text[]) AS k(v) WHERE NOT EXISTS (SELECT 1 FROM ${tenantTable} t WHERE ${tenantKeyText} = k.v)`,
      [keys],
    );
    return Number(rows[0].n);
  };

  const changedRows = new Map<string, number>();
  const incremental = new Set<Element>();
  let globalWhy: string | undefined;

  if (previous) {
    globalWhy = globalReason(previous, identity, global, cannotCut);
    const prev = previous.snapshot;
    const specs = incrementalUnits(manifest, catalog);
    const prevUnits = new Map((prev?.units ?? []).map((u) => [unitKey(u.check, u.table, u.object), u]));
    let lost: number | undefined;
    for (const unit of units) {
      if (globalWhy || !prev) {
        unit.reason = globalWhy;
        continue;
      }
      const spec = specs.get(unit.key);
      unit.reason = unitReason(schema, spec, prev, fingerprints, prevUnits.get(unit.key));
      if (!unit.reason && spec?.noLoss) {
        lost ??= (await lostTenantRows(prev.tables[`${schema}.${spec.noLoss}`])) ?? -1;
        if (lost < 0) unit.reason = `rows of ${spec.noLoss} changed since the previous audit, which did not record its keys (more than ${MAX_TENANT_KEYS} rows?)`;
        else if (lost > 0) unit.reason = `${lost} key${lost === 1 ? '' : 's'} of ${spec.noLoss} gone since the previous audit (deleted or changed): rows naming them may name no tenant now`;
      }
    }
    for (const element of elements) {
      const own = units.filter((u) => u.element === element);
      const blocking = own.find((u) => u.reason);
      if (blocking) {
        for (const u of own) u.reason ??= `runs in one query with ${blocking.object ?? blocking.table}: ${blocking.reason}`;
        continue;
      }
      // A scan a trigger may prove at run time: ask now; proven, it stays in the plan (its task only asks again).
      const provenBy = 'scan' in element ? element.scan.provenBy : undefined;
      if (provenBy && ((await client.query(provenBy.sql, provenBy.values)).rowCount ?? 0) > 0) continue;
      incremental.add(element);
    }
    if (!globalWhy && prev) {
      const rowsOf = (table: string) => Math.max(1, findRelation(catalog, schema, table)?.estimatedRows ?? 1);
      tasks.push(...buildTasks(units.filter((u) => incremental.has(u.element)), specs, xmin32!, changedRows, schema, tenant.column, rowsOf, options.environment));
    }
  }

  const fullPlan: DataPlan = {
    ...plan,
    scans: plan.scans.filter((scan) => !incremental.has(elements.find((e) => 'scan' in e && e.scan === scan)!)),
    duplicates: plan.duplicates.filter((dup) => !incremental.has(elements.find((e) => 'dup' in e && e.dup === dup)!)),
  };

  return {
    plan: fullPlan,
    tasks,
    finish(findings) {
      const found = new Set(findings.map((f) => unitKey(f.check, f.table ? f.table.slice(schema.length + 1) : '', f.object)));
      const recorded: AuditSnapshot['units'] = [];
      const seen = new Set<string>();
      for (const unit of units) {
        const scanned = !('scan' in unit.element) || !unit.element.scan.provenBy || unit.element.scan.provenBy.proofs.every((p) => p.status !== 'proven');
        seen.add(unit.key);
        recorded.push({ check: unit.check, table: unit.table, object: unit.object, status: !scanned ? 'proven' : found.has(unit.key) ? 'findings' : 'clean' });
      }
      for (const proof of plan.proofs) {
        const key = unitKey(proof.check, proof.table, proof.object);
        if (proof.status === 'proven' && !seen.has(key)) recorded.push({ check: proof.check, table: proof.table, object: proof.object, status: 'proven' });
      }
      const snapshot: AuditSnapshot = { ...identity, global, tables: fingerprints, units: recorded };
      if (!previous) return { snapshot };
      const tables: IncrementalTable[] = manifest.tables
        .filter((t) => fingerprints[`${schema}.${t.name}`])
        .map((t) => {
          const own = units.filter((u) => u.table === t.name && !(unitIsProven(u)));
          const reasons = [...new Set(own.filter((u) => u.reason).map((u) => `${u.check}${u.object ? ` (${u.object})` : ''}: ${u.reason}`))];
          if (own.length === 0) return { table: `${schema}.${t.name}`, mode: 'none', reasons: [] };
          const changed = changedRows.has(t.name) ? { changedRows: changedRows.get(t.name) } : {};
          if (reasons.length > 0) return { table: `${schema}.${t.name}`, mode: 'full', ...changed, reasons };
          return { table: `${schema}.${t.name}`, mode: 'incremental', changedRows: changedRows.get(t.name) ?? 0, reasons: [] };
        });
      return { snapshot, report: { since: previous.file, ...(globalWhy ? { global: globalWhy } : {}), tables } };
    },
  };
}

/**
 * A row version newer than the cut ($1: the previous snapshot's xmin, 32 bits). The cut's age as an
 * InitPlan: computed once per query, not per row (age() of a constant is STABLE, not folded); both
 * ages count from the transaction's one stable reference xid.
 */
const changedSql = (alias: string) => `pg_catalog.age(${alias}.xmin) <= (SELECT pg_catalog.age($1::xid))`;

/**
 * What a parent hands a link's child, as JSON: its referenced columns, its tenant column, and the
 * pair encoding the child compares with (null: keys and tenants, joined).
 */
const keysetOf = (link: NonNullable<UnitSpec['link']>): string => JSON.stringify([link.parentColumns, link.tenant, link.pair?.type ?? null]);
const parseKeyset = (keyset: string) => JSON.parse(keyset) as [string[], string, PairType | null];

const unitIsProven = (u: Unit) => 'scan' in u.element && Boolean(u.element.scan.provenBy?.proofs.some((p) => p.status === 'proven'));

/** Keys of a parent's changed rows are passed to its children as arrays up to this many; beyond, the child reads them with a subquery. */
const MAX_KEYS_PASSED = 200_000;

/**
 * One task per table, one scan of it: the rows to check are its changed rows and its rows whose
 * reference is a key of a changed parent row (the parent's task hands those keys over, as arrays:
 * a hashed lookup in the child's scan, instead of a join of the changed parents to the whole child
 * per foreign key). Every answer of the table counts its defects among them. A table referenced by
 * itself, or through a cycle, reads its parent's changed keys with a subquery instead.
 */
function buildTasks(
  units: Unit[],
  specs: Map<string, UnitSpec>,
  xmin32: string,
  changedRows: Map<string, number>,
  schema: string,
  tenantColumn: string,
  rowsOf: (table: string) => number,
  environment: LookupEnvironment,
): Task[] {
  type Link = NonNullable<UnitSpec['link']>;
  interface TableQuery {
    table: string;
    columns: Set<string>;
    computed: Map<string, string>;
    counts: { sql: string; unit: Unit; link?: Link }[];
    links: Link[];
    /** What its children need of its changed rows: JSON of [referenced columns, tenant column] (keysetOf). */
    keysets: string[];
  }
  const byTable = new Map<string, TableQuery>();
  const at = (table: string) => {
    let q = byTable.get(table);
    if (!q) {
      q = { table, columns: new Set(), computed: new Map(), counts: [], links: [], keysets: [] };
      byTable.set(table, q);
    }
    return q;
  };
  for (const unit of units) {
    const spec = specs.get(unit.key)!;
    const own = at(spec.table);
    for (const c of spec.columns) own.columns.add(c);
    for (const [name, sql] of Object.entries(spec.computed ?? {})) own.computed.set(name, sql);
    own.counts.push({ sql: spec.sql, unit, link: spec.link });
    if (spec.link) own.links.push(spec.link);
  }
  // Which links get the parent's keys as arrays: not a table's own, not the back edge of a cycle.
  const passed = new Set<Link>();
  const state = new Map<string, 'open' | 'done'>();
  const visit = (table: string) => {
    state.set(table, 'open');
    for (const link of byTable.get(table)?.links ?? []) {
      if (link.table === table || state.get(link.table) === 'open') continue;
      if (!state.has(link.table)) visit(link.table);
      passed.add(link);
      const parent = at(link.table);
      const key = keysetOf(link);
      if (!parent.keysets.includes(key)) parent.keysets.push(key);
    }
    state.set(table, 'done');
  };
  for (const table of [...byTable.keys()]) if (!state.has(table)) visit(table);

  const OWN = 'crm_tenancy_own';
  interface TableResult {
    row: Record<string, unknown>;
    /**
     * Per keyset, array literals (text, handed to the children's queries as they are: no element is
     * parsed or printed in between): one per referenced column, of the changed rows' keys, and
     * their tenants row for row, or their pairs; `count` elements each (null when more than
     * MAX_KEYS_PASSED).
     */
    keys: Map<string, { count: number; columns: string[]; tenants?: string; pairs?: string } | null>;
  }
  const results = new Map<string, Promise<TableResult>>();
  /** Per table: whether its query has ended (either way), and a promise that settles then. */
  const finished = new Map<string, { done: boolean; promise: Promise<void>; resolve: () => void }>();
  const finishedOf = (table: string) => {
    let f = finished.get(table);
    if (!f) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      f = { done: false, promise, resolve };
      finished.set(table, f);
    }
    return f;
  };
  const resultOf = (table: string, client: pg.ClientBase): Promise<TableResult> => {
    let r = results.get(table);
    if (!r) {
      r = runTable(byTable.get(table)!, client);
      results.set(table, r);
      const end = () => {
        const f = finishedOf(table);
        f.done = true;
        f.resolve();
      };
      r.then(end, end);
    }
    return r;
  };
  // A table's query needs its parents' changed keys (the links passed as arrays): it is ready once
  // they are in, so a lane never waits on a parent another lane is reading while other tables could
  // run. Priority: the rows on the longest chain of waiting tables below a table (its own included),
  // so the chain that decides the end (deals → activities) starts first.
  const parentsOf = new Map([...byTable.values()].map((q) => [q.table, [...new Set(q.links.filter((l) => passed.has(l)).map((l) => l.table))]]));
  const childrenOf = new Map<string, string[]>();
  for (const [table, parents] of parentsOf) for (const parent of parents) childrenOf.set(parent, [...(childrenOf.get(parent) ?? []), table]);
  const ranks = new Map<string, number>();
  const rankOf = (table: string): number => {
    let r = ranks.get(table);
    if (r === undefined) {
      r = rowsOf(table) + Math.max(0, ...(childrenOf.get(table) ?? []).map(rankOf));
      ranks.set(table, r);
    }
    return r;
  };
  const runTable = async (q: TableQuery, client: pg.ClientBase): Promise<TableResult> => {
    const values: unknown[] = [xmin32];
    const reach: string[] = [];
    /** Per link that adds rows, the flag column saying a row was reached through it. */
    const flags = new Map<Link, string>();
    /** Per link whose parent handed its changed keys over: the parameters of those keys and of their tenants. */
    const handed = new Map<Link, { keys: string[]; tenants: string }>();
    /** The links whose flag marks only the defects among the rows reached through them (link.pair). */
    const defectsOnly = new Set<Link>();
    const param = (value: string, type: string) => {
      values.push(value);
      return `$${values.length}::${type}`;
    };
    for (const link of q.links) {
      const guard = link.guard ? `${link.guard} AND ` : '';
      const child = link.child.length === 1 ? link.child[0] : `(${link.child.join(', ')})`;
      const keys = passed.has(link) ? (await resultOf(link.table, client)).keys.get(keysetOf(link)) : null;
      if (keys && keys.count === 0) continue; // no parent row changed: no row of this table to add
      if (keys) {
        const from = keys.columns.map((k, i) => param(k, `${link.types[i]}[]`));
        // One column: `= ANY (array)`, which PostgreSQL (14+) hashes when the array is a constant, as a
        // bound parameter of an unnamed statement is when planned; measured 247 ms against 372 ms for
        // IN (SELECT unnest(…)) on 1.5M rows with four such lookups.
        const reached =
          link.parentColumns.length === 1
            ? `${guard}${child} = ANY (${from[0]})`
            : `${guard}${child} IN (SELECT ${link.parentColumns.map((_, i) => `k.c${i}`).join(', ')} FROM unnest(${from.join(', ')}) AS k(${link.parentColumns.map((_, i) => `c${i}`).join(', ')}))`;
        // In a CASE: the planner estimates no selectivity for it, element by element of each array
        // (measured on deals, four links, 15,000 keys each: planning 7.0 ms → 1.2 ms, the scan alike).
        if (link.pair) {
          // Only the reached rows whose key and tenant are not a changed parent row's pair are
          // kept: the defects (a few), not every row reached (1 % of the table per 1 % of its parent).
          reach.push(`(CASE WHEN ${reached} THEN NOT ((${link.pair.sql}) = ANY (${param(keys.pairs!, `${link.pair.type}[]`)})) ELSE false END)`);
          defectsOnly.add(link);
        } else {
          handed.set(link, { keys: from, tenants: param(keys.tenants!, 'text[]') });
          reach.push(`(CASE WHEN ${reached} THEN true ELSE false END)`);
        }
        flags.set(link, `crm_tenancy_r${flags.size}`);
      } else {
        const cols = link.parentColumns.map((c, i) => `${ident('p')}.${ident(c)}${link.types[i] === 'text' ? '::text' : ''}`);
        reach.push(`(${guard}${child} IN (SELECT ${cols.join(', ')} FROM ${qualified(schema, link.table)} ${ident('p')} WHERE ${changedSql(ident('p'))}))`);
        flags.set(link, `crm_tenancy_r${flags.size}`);
      }
    }
    const keysetColumns = q.keysets.flatMap((k) => {
      const [columns, tenant] = parseKeyset(k);
      return [...columns, tenant];
    });
    // The flags are evaluated again only for the rows that pass the WHERE (a few): each answer then
    // reads its own rows — the changed ones, and for a reference those reached through it.
    const select = [
      `${changedSql('t')} AS ${OWN}`,
      ...[...flags].map(([, name], i) => `${reach[i]} AS ${name}`),
      ...[...new Set([...q.columns, ...keysetColumns])].map((c) => `t.${ident(c)}`),
      ...[...q.computed].map(([name, sql]) => `${sql} AS ${ident(name)}`),
    ];
    // Keys and tenants (or pairs) in one aggregation pass over the same rows: row for row. A pair
    // is handed only for a row with a key and a tenant: a parent row without a tenant makes no
    // defect (the comparison is NULL), so its key reaches nothing.
    const arrays = q.keysets.flatMap((k, i) => {
      const [columns, tenant, pair] = parseKeyset(k);
      const rows = pair ? [`t.${OWN}`, ...[...columns, tenant].map((c) => `t.${ident(c)} IS NOT NULL`)].join(' AND ') : `t.${OWN}`;
      const agg = (value: string, name: string) => `(array_agg(${value}) FILTER (WHERE ${rows}))::text AS k${i}_${name}`;
      return [
        `count(*) FILTER (WHERE ${rows}) AS k${i}_n`,
        ...columns.map((c, j) => agg(`t.${ident(c)}`, String(j))),
        pair ? agg(pairSql(columns, tenant, pair), 'p') : agg(`t.${ident(tenant)}::text`, 't'),
      ];
    });
    const sql = `WITH ${CHANGED} AS MATERIALIZED (
  SELECT ${select.join(', ')} FROM ${qualified(schema, q.table)} t
   WHERE ${[changedSql('t'), ...reach].join('\n      OR ')})
SELECT count(*) FILTER (WHERE t.${OWN}) AS n${arrays.map((a) => `, ${a}`).join('')}${q.counts
      .map((c, i) => {
        const flag = c.link ? flags.get(c.link) : undefined;
        const pairs = c.link ? handed.get(c.link) : undefined;
        if (!flag) return `,\n  (${c.sql.replaceAll(ROWS, `t.${OWN}`)}) AS u${i}`;
        if (defectsOnly.has(c.link!)) {
          return `,\n  (${c.sql.replaceAll(ROWS, `t.${OWN}`)})\n   + (SELECT count(*) FROM ${CHANGED} t WHERE t.${flag} AND NOT t.${OWN}) AS u${i}`;
        }
        if (!pairs) return `,\n  (${c.sql.replaceAll(ROWS, `(t.${OWN} OR t.${flag})`)}) AS u${i}`;
        // A row reached through the link (and not changed itself) is compared with the tenant its
        // parent's changed row handed over with the key: a hashed join of the few pairs, not an
        // index probe into the parent per row. The key is unique in the parent, so that row is
        // the one the probe would find; no pair, no parent row with that key changed, no row here.
        const link = c.link!;
        const k = ident('crm_tenancy_k');
        const names = link.parentColumns.map((_, j) => `c${j}`);
        const on = link.child.map((child, j) => `${k}.c${j}::${link.types[j]} = ${child}`).join(' AND ');
        return (
          `,\n  (${c.sql.replaceAll(ROWS, `t.${OWN}`)})` +
          `\n   + (SELECT count(*) FROM ${CHANGED} t JOIN unnest(${[...pairs.keys, pairs.tenants].join(', ')}) AS ${k}(${[...names, 'tn'].join(', ')}) ON ${on}` +
          `\n       WHERE t.${flag} AND NOT t.${OWN} AND ${link.reached(`${k}.tn`)}) AS u${i}`
        );
      })
      .join('')}
  FROM ${CHANGED} t`;
    const row = (await client.query<Record<string, unknown>>(sql, values)).rows[0];
    changedRows.set(q.table, Number(row.n));
    const keys: TableResult['keys'] = new Map();
    q.keysets.forEach((k, i) => {
      const [columns, , pair] = parseKeyset(k);
      const count = Number(row[`k${i}_n`]);
      const text = (name: string) => (row[`k${i}_${name}`] as string | null) ?? '{}';
      keys.set(k, count > MAX_KEYS_PASSED ? null : { count, columns: columns.map((_, j) => text(String(j))), ...(pair ? { pairs: text('p') } : { tenants: text('t') }) });
    });
    return { row, keys };
  };

  // An answer whose rows to check hold a defect runs as in a full audit (exact counts and samples), once.
  const reruns = new Map<Element, Promise<(RawFinding & { check?: string })[]>>();
  const rerun = (client: pg.ClientBase, unit: Unit) => {
    const element = unit.element;
    if (reruns.has(element)) return reruns.get(element)!.then(() => []);
    for (const u of units) if (u.element === element) u.reason = 'the changed rows hold findings: re-checked in full for exact counts and samples';
    const [task] = dataTasks({ scans: 'scan' in element ? [element.scan] : [], duplicates: 'dup' in element ? [element.dup] : [], proofs: [] }, schema, tenantColumn, environment);
    const promise = task.run(client).then((found) => found.map((f) => ({ ...f, check: f.check ?? task.check })));
    reruns.set(element, promise);
    return promise;
  };
  return [...byTable.values()].map((q) => ({
    check: q.counts[0]?.unit.check ?? 'null-tenant',
    target: `${q.table} (changed rows)`,
    data: true,
    rows: rankOf(q.table),
    ready: () => parentsOf.get(q.table)!.every((p) => finishedOf(p).done),
    whenReady: () => Promise.all(parentsOf.get(q.table)!.map((p) => finishedOf(p).promise)),
    run: async (client: pg.ClientBase) => {
      const { row } = await resultOf(q.table, client);
      const out: (RawFinding & { check?: string })[] = [];
      for (const [i, c] of q.counts.entries()) {
        if (Number(row[`u${i}`]) > 0) out.push(...(await rerun(client, c.unit)));
      }
      return out;
    },
  }));
}

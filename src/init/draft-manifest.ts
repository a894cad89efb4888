// Drafts a tenancy.yaml from the live catalog: finds the tenant table, classifies every table.
import type { Queryable } from '../db/connection.js';
import {
  findColumn,
  foreignKeys,
  isTableLike,
  readCatalog,
  type Catalog,
  type CatalogTable,
} from '../db/catalog.js';
import { escapeText } from '../db/quote.js';
import { TenancyError } from '../errors.js';
import { hopsToTenant, rankSources, type RankedSource } from './backfill-sources.js';
import { DEFAULT_INFERENCE_TIMEOUT_MS, withInferenceTimeout } from './inference-bound.js';
import { pairDoubt, polymorphicPairs, type PolymorphicPair } from './polymorphic-pairs.js';
import { nullTenantRows, proposedKeys, sharedRowEvidence, type ProposedUnique } from './table-facts.js';

/** A polymorphic pair as drafted: a real entry when the data proves it, else a TODO comment saying why not. */
export interface PolymorphicProposal extends PolymorphicPair {
  /** Why the data does not prove it (undefined: proposed as a real manifest entry). */
  doubt?: string;
}

export { renderDraft, yamlScalar } from './render-draft.js';

export interface DraftOptions {
  schema?: string;
  /** The tenant table; guessed when absent. */
  tenantTable?: string;
  /** The tenant column; guessed (most common FK column to the tenant table) when absent. */
  tenantColumn?: string;
  /** Schemas never drafted (the toolkit's own). */
  excludeSchemas?: string[];
  stateSchema?: string;
  /** statement_timeout of every query reading data for the polymorphic inference, in ms (default 30 s). */
  inferenceTimeoutMs?: number;
}

export interface ScopedProposal {
  kind: 'scoped';
  why: string;
  /** Backfill columns, best source first (empty: the tenant column is NOT NULL, or shared rows). */
  backfill: string[];
  /** The ranked sources behind `backfill`. */
  sources: RankedSource[];
  /** The tenant column exists and is NOT NULL already: nothing to fill. */
  tenantNotNull: boolean;
  /** Rows whose tenant column is NULL now. */
  nullRows: number;
  /** NULL rows no backfill source places, and the schema or data says they are shared: `shared_rows: true`. */
  sharedRows: boolean;
  /** What says the NULL rows are shared (a CHECK, references from several tenants, per-tenant overrides). */
  sharedEvidence: string[];
  /** NULL rows nothing places and nothing marks as shared: to be given a tenant (a TODO). */
  orphans: boolean;
  unique: ProposedUnique[];
  /** The UNIQUE (tenant) index a `singleton: true` comes from. */
  singleton?: string;
  polymorphic: PolymorphicProposal[];
}

export type Classification =
  | { kind: 'tenant' }
  | ScopedProposal
  | { kind: 'exempt'; why: string; polymorphic: PolymorphicProposal[] };

export interface ManifestDraft {
  schema: string;
  tenantTable: string;
  tenantKey: string;
  tenantColumn: string;
  tenantType: string;
  setting: string;
  appRoles: string[];
  /** How the tenant table was chosen. */
  tenantWhy: string;
  /** Foreign keys between scoped tables that `composite_keys: true` would make tenant-safe. */
  compositeForeignKeys: number;
  tables: { name: string; classification: Classification }[];
}

const TENANT_NAMES = ['companies', 'organizations', 'organisations', 'orgs', 'tenants', 'accounts', 'agencies', 'workspaces', 'customers', 'teams'];

function singleKey(table: CatalogTable): string | undefined {
  return table.primaryKey && table.primaryKey.length === 1 ? table.primaryKey[0] : undefined;
}

function guessTenant(catalog: Catalog, tables: CatalogTable[], options: DraftOptions): { table: CatalogTable; column: string; why: string } {
  // Score each table by how many other tables reference it (FK) or carry a `<singular>_id` column.
  const scores = new Map<CatalogTable, Map<string, number>>();
  const byName = new Map(tables.map((t) => [t.name, t]));
  for (const table of tables) {
    for (const fk of foreignKeys(table)) {
      const ref = fk.references && byName.get(fk.references.table);
      if (!ref || ref === table || fk.columns.length !== 1 || fk.references!.schema !== table.schema) continue;
      const counts = scores.get(ref) ?? new Map<string, number>();
      counts.set(fk.columns[0], (counts.get(fk.columns[0]) ?? 0) + 1);
      scores.set(ref, counts);
    }
  }
  if (options.tenantTable) {
    const table = byName.get(options.tenantTable);
    if (!table) {
      throw new TenancyError('unknown-table', `tenant table ${escapeText(options.tenantTable)} does not exist in schema ${escapeText(tables[0]?.schema ?? '')}`);
    }
    const counts = scores.get(table) ?? new Map<string, number>();
    const column = options.tenantColumn ?? [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
    if (!column) {
      throw new TenancyError('usage', `no table references ${escapeText(options.tenantTable)}; pass --tenant-column`);
    }
    return { table, column, why: 'given with --tenant-table' };
  }
  let best: { table: CatalogTable; column: string; score: number; why: string } | undefined;
  for (const [table, counts] of scores) {
    if (!singleKey(table)) continue;
    const [column, count] = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0];
    if (options.tenantColumn && column !== options.tenantColumn) continue;
    const carriers = tables.filter((t) => t !== table && findColumn(t, column)).length;
    const bonus = TENANT_NAMES.includes(table.name.toLowerCase()) ? 1.5 : 1;
    const score = (count + carriers) * bonus;
    if (!best || score > best.score) {
      best = {
        table,
        column,
        score,
        why: `${count} foreign keys reference it through "${column}", ${carriers} tables carry "${column}"`,
      };
    }
  }
  if (!best) {
    throw new TenancyError('usage', `cannot tell which table is the tenant table in schema ${escapeText(catalog.schemas[0] ?? '')}`, {
      hint: 'pass --tenant-table NAME (and --tenant-column NAME)',
    });
  }
  return best;
}

/**
 * Reads the catalog and classifies every table: the tenant table; scoped tables (they carry the
 * tenant column, or reach a scoped table or the tenant table through foreign keys), with backfill
 * paths from the FK graph; and the rest, exempt with a reason to fill in.
 */
export async function draftManifest(db: Queryable, options: DraftOptions = {}): Promise<ManifestDraft> {
  const schema = options.schema ?? 'public';
  const catalog = await readCatalog(db, [schema]);
  const tables = [...catalog.relations.values()].filter((t) => isTableLike(t) && !t.partitionOf);
  if (tables.length === 0) {
    throw new TenancyError('usage', `schema ${escapeText(schema)} has no tables`, { hint: 'pass --schema NAME' });
  }
  const tenant = guessTenant(catalog, tables, options);
  const tenantKey = singleKey(tenant.table)!;
  const tenantType = findColumn(tenant.table, tenantKey)!.type;

  // Polymorphic pairs, read from the data under a bound (a read that hits it leaves the pair a TODO):
  // a pair the data proves scopes a table like a foreign key does.
  const byName = new Map(tables.map((t) => [t.name, t]));
  const pairsOf = new Map<string, PolymorphicPair[]>();
  const timeoutMs = options.inferenceTimeoutMs ?? DEFAULT_INFERENCE_TIMEOUT_MS;
  await withInferenceTimeout(db, timeoutMs, async () => {
    for (const t of tables) if (t !== tenant.table) pairsOf.set(t.name, await polymorphicPairs(db, t, byName, { timeoutMs }));
  });

  // Scoped: carries the column, or references (transitively) the tenant table or a scoped table,
  // through a foreign key or a proven polymorphic pair.
  const scoped = new Map<string, string>();
  for (const t of tables) {
    if (t === tenant.table) continue;
    if (findColumn(t, tenant.column)) scoped.set(t.name, `has column ${tenant.column}`);
  }
  let changed = true;
  while (changed) {
    changed = false;
    for (const t of tables) {
      if (t === tenant.table || scoped.has(t.name)) continue;
      for (const fk of foreignKeys(t)) {
        const ref = fk.references!;
        if (ref.schema !== schema) continue;
        if (ref.table === tenant.table.name) {
          scoped.set(t.name, `references ${ref.table} through ${fk.columns.join(', ')}`);
        } else if (scoped.has(ref.table)) {
          scoped.set(t.name, `reaches ${tenant.table.name} through ${fk.columns.join(', ')} → ${ref.table}`);
        }
        if (scoped.has(t.name)) break;
      }
      const names = new Set(scoped.keys());
      const pair = scoped.has(t.name) ? undefined : pairsOf.get(t.name)!.find((p) => pairDoubt(p, names) === undefined);
      if (pair) {
        const targets = [...new Set(pair.targets.map((x) => x.table))].join(', ');
        scoped.set(t.name, `reaches ${tenant.table.name} through the polymorphic pair ${pair.typeColumn}/${pair.idColumn} → ${targets}`);
      }
      if (scoped.has(t.name)) changed = true;
    }
  }
  const scopedNames = new Set(scoped.keys());
  const hops = hopsToTenant(tables, tenant.table, tenant.column, schema);
  const catalogOf = (name: string) => tables.find((t) => t.name === name);
  const result: ManifestDraft['tables'] = [];
  let compositeForeignKeys = 0;
  for (const t of tables) {
    if (t === tenant.table) {
      result.push({ name: t.name, classification: { kind: 'tenant' } });
      continue;
    }
    const polymorphic: PolymorphicProposal[] = pairsOf.get(t.name)!.map((p) => {
      const doubt = pairDoubt(p, scopedNames);
      return doubt === undefined ? p : { ...p, doubt };
    });
    const why = scoped.get(t.name);
    if (!why) {
      result.push({
        name: t.name,
        classification: { kind: 'exempt', why: `no ${tenant.column} column and no foreign-key path to ${tenant.table.name}`, polymorphic },
      });
      continue;
    }
    compositeForeignKeys += foreignKeys(t).filter(
      (fk) => fk.columns.length === 1 && fk.columns[0] !== tenant.column && fk.references!.schema === schema && scopedNames.has(fk.references!.table),
    ).length;
    const column = findColumn(t, tenant.column);
    const tenantNotNull = Boolean(column?.notNull);
    const sources = tenantNotNull ? [] : rankSources(t, scopedNames, tenant.table.name, tenant.column, schema, hops);
    let nullRows = 0;
    let sharedRows = false;
    let orphans = false;
    let sharedEvidence: string[] = [];
    if (column && !tenantNotNull) {
      const n = await nullTenantRows(db, t, tenant.column, tenant.table.name, tenantKey, sources, catalogOf);
      nullRows = n.nullRows;
      // NULL rows nothing can place: shared by design (predefined roles, templates) when the schema or
      // the data says so; else orphans, left for a person to give a tenant (never shared by guess: a
      // shared row is readable by every tenant).
      if (n.nullRows > 0 && n.placeable === 0 && !n.undecided) {
        sharedEvidence = await sharedRowEvidence(db, t, tenant.column, tables);
        sharedRows = sharedEvidence.length > 0;
        orphans = !sharedRows;
      }
    }
    const keys = proposedKeys(t, tenant.column);
    result.push({
      name: t.name,
      classification: {
        kind: 'scoped',
        // Without a tenant column of its own: named by its best backfill source, not the first FK found.
        why: !column && sources.length > 0 && Number.isFinite(sources[0].hops) ? `reaches ${tenant.table.name} through ${sources[0].column} → ${sources[0].parent}` : why,
        backfill: sharedRows ? [] : sources.map((s) => s.column),
        sources: sharedRows ? [] : sources,
        tenantNotNull,
        nullRows,
        sharedRows,
        sharedEvidence,
        orphans,
        unique: keys.unique,
        ...(keys.singleton ? { singleton: keys.singleton } : {}),
        polymorphic,
      },
    });
  }
  const appRoles = await guessAppRoles(db, schema);
  return {
    schema,
    tenantTable: tenant.table.name,
    tenantKey,
    tenantColumn: tenant.column,
    tenantType,
    setting: `app.current_${tenant.column.replace(/[^A-Za-z0-9_]/g, '_')}`,
    appRoles,
    tenantWhy: tenant.why,
    compositeForeignKeys,
    tables: result,
  };
}

/** Non-superuser roles (other than the owner) holding DML privileges on tables of the schema. */
async function guessAppRoles(db: Queryable, schema: string): Promise<string[]> {
  const result = await db.query<{ role: string }>(
    `SELECT DISTINCT r.rolname AS role
       FROM pg_catalog.pg_class c
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       CROSS JOIN LATERAL aclexplode(c.relacl) acl
       JOIN pg_catalog.pg_roles r ON r.oid = acl.grantee
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND acl.grantee <> c.relowner
        AND acl.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')
        AND NOT r.rolsuper AND r.rolname !~ '^pg_'
      ORDER BY 1`,
    [schema],
  );
  return result.rows.map((r) => r.role);
}

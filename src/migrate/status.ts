// `migrate status`: per scoped table and per rollout step, what the live catalog shows; plus the files.
import type { Manifest } from '../config/manifest.js';
import { resolveLiveContext } from '../config/live-context.js';
import { withClient, type ConnectionOptions, type Queryable } from '../db/connection.js';
import { findRelation, foreignKeys } from '../db/catalog.js';
import { appliedMigrationNames } from './migrations-table.js';
import { readMigrationDir } from './migration-file.js';
import { hasParentKey, scopedForeignKeys, tableTenancyState } from './plan.js';

/** true done, false not done, null not applicable (e.g. no unique keys declared). */
export type StepState = boolean | null;

export interface TableStatus {
  table: string;
  exists: boolean;
  column: StepState;
  fk: StepState;
  fkValidated: StepState;
  index: StepState;
  notNull: StepState;
  uniqueKeys: StepState;
  compositeKeys: StepState;
  rls: StepState;
  policies: StepState;
}

export interface MigrationFileStatus {
  name: string;
  phase: string | null;
  applied: boolean;
}

export interface MigrationStatus {
  tables: TableStatus[];
  migrations: MigrationFileStatus[];
  /** True when every table has every applicable step (RLS and policies excluded: `policies apply` does those). */
  schemaComplete: boolean;
}

export interface MigrationStatusOptions extends ConnectionOptions<Queryable> {
  manifest: Manifest;
  migrationsDir: string;
}

/**
 * The rollout state per scoped table (column, FK, FK validated, index, NOT NULL, unique keys,
 * composite keys, RLS, policies) and which migration files have run.
 */
export async function migrationStatus(options: MigrationStatusOptions): Promise<MigrationStatus> {
  return withClient(options, 'crm-tenancy migrate status', (client) => statusWith(client, options));
}

async function statusWith(db: Queryable, options: MigrationStatusOptions): Promise<MigrationStatus> {
  const { manifest } = options;
  const live = await resolveLiveContext(db, manifest);
  const c = manifest.tenant.column;
  const scoped = manifest.tables.map((t) => t.name);
  // Tables referenced by an FK from a scoped table (single or composite): they need UNIQUE (tenant, key).
  const referenced = new Map<string, string>();
  for (const name of scoped) {
    const table = findRelation(live.catalog, manifest.schema, name);
    if (!table) continue;
    for (const fk of foreignKeys(table)) {
      const ref = fk.references;
      if (!ref || ref.schema !== manifest.schema || !scoped.includes(ref.table)) continue;
      const i = fk.columns.findIndex((col) => col !== c);
      if (i >= 0 && ref.columns[i]) referenced.set(ref.table, ref.columns[i]);
    }
  }
  const tables: TableStatus[] = scoped.map((name) => {
    const table = findRelation(live.catalog, manifest.schema, name);
    const s = tableTenancyState(live, name);
    if (!table) {
      return { table: name, exists: false, column: false, fk: false, fkValidated: false, index: false, notNull: false, uniqueKeys: false, compositeKeys: false, rls: false, policies: false };
    }
    let composite: StepState = null;
    if (manifest.tenant.compositeKeys) {
      const singles = scopedForeignKeys(live, table);
      const parentKey = referenced.get(name);
      const needs = singles.length > 0 || parentKey !== undefined || foreignKeys(table).some((fk) => fk.columns.length === 2 && fk.columns.includes(c));
      if (needs) composite = singles.length === 0 && (parentKey === undefined || hasParentKey(live, table, parentKey));
    }
    return {
      table: name,
      exists: true,
      column: s.column,
      fk: s.tenantFk !== null,
      fkValidated: s.tenantFk ? s.tenantFk.validated : false,
      index: s.index,
      // A shared_rows table keeps its tenant column nullable by design.
      notNull: live.manifest.tables.find((t) => t.name === name)?.sharedRows ? null : s.notNull,
      uniqueKeys: s.uniqueKeys.length === 0 ? null : s.uniqueKeys.every((k) => k.present),
      compositeKeys: composite,
      rls: table.rlsEnabled && table.rlsForced,
      policies: table.policies.length > 0,
    };
  });
  const files = await readMigrationDir(options.migrationsDir);
  const applied = new Set(await appliedMigrationNames(db, manifest.stateSchema));
  const migrations = files.map((f) => ({ name: f.name, phase: f.meta?.phase ?? null, applied: applied.has(f.name) }));
  const schemaComplete = tables.every((t) =>
    [t.column, t.fk, t.fkValidated, t.index, t.notNull, t.uniqueKeys, t.compositeKeys].every((v) => v !== false),
  );
  return { tables, migrations, schemaComplete };
}

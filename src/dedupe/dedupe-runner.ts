// runDedupe: resolves duplicates of the manifest's unique / singleton keys within each tenant; archives, re-points, undoable.
import type pg from 'pg';
import type { Manifest } from '../config/manifest.js';
import { requireScopedTable, resolveLiveContext } from '../config/live-context.js';
import { withClient } from '../db/connection.js';
import { findColumn, findRelation, type Catalog, type CatalogTable } from '../db/catalog.js';
import { ident, qualified } from '../db/quote.js';
import { primaryKeyColumns, type KeyColumn, type RowKey } from '../db/table-keys.js';
import { TenancyError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { acquireDataLock } from '../state/locks.js';
import { withRun } from '../state/runs.js';
import { ensureStateSchema } from '../state/state-schema.js';
import {
  checkKey,
  entityColumns,
  findDuplicateGroups,
  keepOrder,
  type EntityColumn,
  type FoundGroup,
  type KeepRule,
  type KeySpec,
} from './find-duplicate-groups.js';
import { incomingForeignKeys } from './incoming-keys.js';
import { countReferences, type RepointCount } from './repoint-references.js';
import { resolveGroup, type GroupContext } from './resolve-group.js';
import { uniqueKeysOf, type DedupeKey } from './unique-keys.js';
import { waitWhileUnhealthy, type HealthThresholds } from '../db/server-health.js';

export { keepOrder, type EntityColumn, type KeepRule } from './find-duplicate-groups.js';
export type { RepointCount } from './repoint-references.js';
export { uniqueKeysOf, type DedupeKey } from './unique-keys.js';

export interface DedupeOptions {
  databaseUrl?: string;
  /** Use this connection instead of opening one (it is not closed). */
  client?: pg.Client;
  manifest: Manifest;
  table?: string;
  /** Which row of a group survives (default oldest). */
  keep?: KeepRule;
  /** Show the groups and what would be kept; write nothing. */
  dryRun?: boolean;
  /** lock_timeout of each group's transaction, default 500 ms (retried on 55P03). */
  lockTimeoutMs?: number;
  logger?: Logger;
  /**
   * Pause before each group while the server is unhealthy (standby lag, a long autovacuum on the
   * table, checkpoint pressure), as GitLab's batched migrations do. Default: no pausing (the CLI
   * turns it on).
   */
  health?: HealthThresholds;
  /** Aborts a health pause (Ctrl-C). */
  signal?: AbortSignal;
}

export interface DuplicateGroup {
  table: string;
  kind: 'unique' | 'singleton';
  /** The manifest's key columns ([] for a singleton). */
  columns: string[];
  /** A partial key's predicate: only rows matching it were grouped. */
  where?: string;
  tenant: unknown;
  /** The duplicated values of the key columns. */
  values: Record<string, unknown>;
  kept: RowKey;
  removed: RowKey[];
  /** References moved to the kept row (dry run: that would be moved). */
  repointed: RepointCount[];
  status: 'resolved' | 'refused' | 'planned' | 'skipped';
  /** Why a group was refused or skipped. */
  reason?: string;
}

/**
 * Rows sharing a unique key that are different entities (they differ in a foreign-key column or a
 * `same` column): nothing of them was changed; a human decides (renumber one, or make them one entity).
 */
export interface DedupeConflict {
  table: string;
  /** The key's columns. */
  columns: string[];
  where?: string;
  tenant: unknown;
  /** The shared values of the key columns. */
  values: Record<string, unknown>;
  /** How many rows share them. */
  rows: number;
  /** The columns the rows differ in, and why those must be equal. */
  differing: EntityColumn[];
  /** Up to 10 of the rows, in keep order: primary key and values of the differing columns. */
  samples: { key: RowKey; values: Record<string, unknown> }[];
}

export interface DedupeResult {
  /** null for a dry run. */
  runId: string | null;
  dryRun: boolean;
  keep: KeepRule;
  /** Groups of one entity each: resolved (dry run: planned), or refused / skipped. */
  groups: DuplicateGroup[];
  /** Rows deleted (each archived first). */
  removed: number;
  /** Referencing rows re-pointed. */
  repointed: number;
  refused: DuplicateGroup[];
  /** Groups of distinct entities sharing a key: left as they are. */
  conflicts: DedupeConflict[];
  /** Rows not grouped because their tenant is NULL (run backfill first). */
  nullTenantRows: { table: string; rows: number }[];
  /**
   * Foreign keys into a table with duplicates whose columns no index leads: PostgreSQL scans the
   * referencing table for every removed row (its own FK check). Index them first on big tables.
   */
  unindexedReferences: { table: string; references: string; constraint: string; columns: string[] }[];
  /** No duplicate group and no conflict is left (dry run: none was found). */
  ok: boolean;
}

/** A table to deduplicate: its primary key, keep order, and keys with their entity columns. */
interface Target {
  rel: CatalogTable;
  key: KeyColumn[];
  order: string;
  specs: { spec: KeySpec; entity: EntityColumn[] }[];
}

/**
 * Finds duplicate groups of each `unique` key and `singleton` within a tenant, keeps one row per
 * group, re-points every referencing row to it and deletes the others — one transaction per group,
 * each removed row archived (full row as jsonb) before deletion. Only rows that are one entity are
 * merged: a group whose rows differ in a foreign-key (or `same`) column is left alone and reported
 * in `conflicts`. A partial key groups only the rows its predicate selects (the live ones). A group
 * whose re-pointing fails (e.g. it would violate a unique constraint of the referencing table) is
 * refused and reported.
 *
 * @example
 * const r = await runDedupe({ manifest, databaseUrl, keep: 'oldest' });
 * // r.groups[0] → { table: 'twilio_settings', kept: { id: 1 }, removed: [{ id: 2 }], repointed: [...] }
 */
export async function runDedupe(options: DedupeOptions): Promise<DedupeResult> {
  const logger = options.logger ?? silentLogger;
  const keep = options.keep ?? 'oldest';
  const { manifest } = options;
  return withClient(options, 'crm-tenancy dedupe', async (client) => {
    const live = await resolveLiveContext(client, manifest);
    if (options.table !== undefined) requireScopedTable(manifest, options.table);
    const keysOf = (table: string) => uniqueKeysOf(manifest, table);
    const targets = await dedupeTargets(client, live.catalog, manifest, options.table, keysOf, keep, logger);
    if (options.dryRun) return dedupeAll(client, options, targets, keep, null, logger);

    await ensureStateSchema(client, manifest.stateSchema);
    const release = await acquireDataLock(client, manifest.stateSchema, manifest.schema, 'dedupe');
    try {
      const args = { schema: manifest.schema, table: options.table ?? null, keep };
      return await withRun(client, manifest.stateSchema, 'dedupe', args, async (runId) => {
        logger.info(`dedupe run ${runId}`);
        const result = await dedupeAll(client, options, targets, keep, runId, logger);
        const summary = {
          groups: result.groups.length,
          removed: result.removed,
          repointed: result.repointed,
          refused: result.refused.length,
          conflicts: result.conflicts.length,
        };
        return { result, summary };
      });
    } finally {
      await release();
    }
  });
}

/** The tables with keys to resolve, each checked before anything is written. */
async function dedupeTargets(
  client: pg.Client,
  catalog: Catalog,
  manifest: Manifest,
  only: string | undefined,
  keysOf: (table: string) => DedupeKey[],
  keep: KeepRule,
  logger: Logger,
): Promise<Target[]> {
  const tenantColumn = manifest.tenant.column;
  const targets: Target[] = [];
  for (const entry of manifest.tables) {
    if (only !== undefined && entry.name !== only) continue;
    const specs: KeySpec[] = keysOf(entry.name).map((k) => ({ kind: 'unique' as const, ...k }));
    if (entry.singleton) specs.push({ kind: 'singleton', columns: [] });
    if (specs.length === 0) continue;
    const rel = findRelation(catalog, manifest.schema, entry.name);
    if (!rel) {
      logger.warn(`table ${manifest.schema}.${entry.name} does not exist; skipped`);
      continue;
    }
    if (!findColumn(rel, tenantColumn)) {
      throw new TenancyError('manifest-live', `${manifest.schema}.${entry.name} has no tenant column ${tenantColumn}; duplicates are counted per tenant`, {
        hint: 'add the tenant column first with the expand migration: `crm-tenancy migrate up`, then `crm-tenancy backfill`',
      });
    }
    const key = primaryKeyColumns(rel, 'dedupe');
    for (const [i, spec] of specs.entries()) if (spec.kind === 'unique') await checkKey(client, rel, spec, i, tenantColumn);
    targets.push({ rel, key, order: keepOrder(rel, key, keep), specs: specs.map((spec) => ({ spec, entity: entityColumns(rel, spec, tenantColumn) })) });
  }
  return targets;
}

/** Finds and resolves (runId null: plans) every group of every target, in manifest order. */
async function dedupeAll(
  client: pg.Client,
  options: DedupeOptions,
  targets: Target[],
  keep: KeepRule,
  runId: string | null,
  logger: Logger,
): Promise<DedupeResult> {
  const { manifest } = options;
  const tenantColumn = manifest.tenant.column;
  const groups: DuplicateGroup[] = [];
  const conflicts: DedupeConflict[] = [];
  const nullTenantRows: DedupeResult['nullTenantRows'] = [];
  const unindexedReferences: DedupeResult['unindexedReferences'] = [];
  for (const { rel, key, order, specs } of targets) {
    const nulls = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${qualified(rel.schema, rel.name)} WHERE ${ident(tenantColumn)} IS NULL`);
    if (Number(nulls.rows[0].n) > 0) {
      nullTenantRows.push({ table: rel.name, rows: Number(nulls.rows[0].n) });
      logger.warn(`${rel.name}: ${nulls.rows[0].n} row(s) with a NULL ${tenantColumn} are not grouped; run \`crm-tenancy backfill\` first`);
    }
    const incoming = (await incomingForeignKeys(client, rel.schema, rel.name)).filter((fk) => fk.schema !== manifest.stateSchema);
    let warned = false;
    for (const { spec, entity } of specs) {
      // Found right before they are resolved: an earlier key of the same table may have removed rows.
      const found = await findDuplicateGroups(client, rel, key, spec, entity, tenantColumn, order);
      const mergeable = found.filter((g) => g.differing.length === 0);
      if (mergeable.length > 0 && !warned) {
        warned = true;
        for (const fk of incoming.filter((f) => !f.indexed)) {
          const columns = fk.columns.map((c) => c.name);
          unindexedReferences.push({ table: fk.table, references: rel.name, constraint: fk.constraint, columns });
          logger.warn(
            `${fk.schema}.${fk.table} (${columns.join(', ')}) references ${rel.name} without an index: PostgreSQL scans ${fk.table} for every removed row; ` +
              `on a big table first run CREATE INDEX CONCURRENTLY ON ${qualified(fk.schema, fk.table)} (${columns.map((c) => ident(c)).join(', ')})`,
          );
        }
      }
      for (const g of found.filter((f) => f.differing.length > 0)) {
        const conflict = toConflict(rel, spec, g);
        conflicts.push(conflict);
        const why = conflict.differing.map((d) => `${d.column} (${d.because === 'foreign-key' ? 'a foreign key' : 'named in same'})`).join(', ');
        logger.warn(`${rel.name}: ${conflict.rows} rows of tenant ${JSON.stringify(g.tenant)} share ${JSON.stringify(g.values)} but differ in ${why}: distinct entities, left as they are`);
      }
      const ctx: GroupContext | undefined =
        runId === null
          ? undefined
          : {
              client,
              stateSchema: manifest.stateSchema,
              runId,
              rel,
              key,
              spec,
              entity,
              tenantColumn,
              incoming,
              lockTimeoutMs: options.lockTimeoutMs ?? 500,
              logger,
            };
      for (const g of mergeable) {
        const planned: DuplicateGroup = {
          table: rel.name,
          kind: spec.kind,
          columns: spec.columns,
          ...(spec.where !== undefined ? { where: spec.where } : {}),
          tenant: g.tenant,
          values: g.values,
          kept: g.keys[0],
          removed: g.keys.slice(1),
          repointed: [],
          status: 'planned',
        };
        if (!ctx) {
          groups.push({ ...planned, repointed: await countReferences(client, rel, key, incoming, planned.removed) });
          continue;
        }
        if (options.health) {
          await waitWhileUnhealthy(client, { schema: rel.schema, table: rel.name }, options.health, logger, options.signal);
        }
        const outcome = await resolveGroup(ctx, planned.kept, planned.removed);
        const group: DuplicateGroup = { ...planned, ...outcome };
        groups.push(group);
        if (outcome.status === 'resolved') {
          logger.info(`${rel.name}: kept ${JSON.stringify(group.kept)}, removed ${group.removed.map((k) => JSON.stringify(k)).join(', ')} (archived)`);
        } else {
          logger.warn(`${rel.name}: group ${JSON.stringify(group.values)} of tenant ${JSON.stringify(group.tenant)} ${outcome.status}: ${outcome.reason}`);
        }
      }
    }
  }
  const refused = groups.filter((g) => g.status === 'refused' || g.status === 'skipped');
  return {
    runId,
    dryRun: runId === null,
    keep,
    groups,
    removed: groups.filter((g) => g.status === 'resolved').reduce((n, g) => n + g.removed.length, 0),
    repointed: groups.filter((g) => g.status !== 'refused').reduce((n, g) => n + g.repointed.reduce((m, r) => m + r.rows, 0), 0),
    refused,
    conflicts,
    nullTenantRows,
    unindexedReferences,
    ok: conflicts.length === 0 && (runId === null ? groups.length === 0 : refused.length === 0),
  };
}

function toConflict(rel: CatalogTable, spec: KeySpec, g: FoundGroup): DedupeConflict {
  return {
    table: rel.name,
    columns: spec.columns,
    ...(spec.where !== undefined ? { where: spec.where } : {}),
    tenant: g.tenant,
    values: g.values,
    rows: g.keys.length,
    differing: g.differing,
    samples: g.samples,
  };
}

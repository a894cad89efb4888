// runDedupe: resolves duplicates of the manifest's unique / singleton keys within each tenant; archives, re-points, undoable.
import type pg from 'pg';
import type { Manifest } from '../config/manifest.js';
import { requireScopedTable, resolveLiveContext } from '../config/live-context.js';
import { findColumn, findRelation, type CatalogTable } from '../db/catalog.js';
import { ident, literal, qualified } from '../db/quote.js';
import { withTransaction } from '../db/transaction.js';
import { TenancyError, isPgServerError } from '../errors.js';
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import { ensureStateSchema } from '../state/state-schema.js';
import { finishRun, startRun } from '../state/runs.js';
import { acquireDataLock } from '../state/locks.js';
import { retryTransaction } from '../db/transaction.js';
import { withClient } from '../db/connection.js';
import { keyJson, keyMatchesJson, keyOrder, primaryKeyColumns, type KeyColumn, type RowKey } from '../db/table-keys.js';
import { incomingForeignKeys, type IncomingForeignKey } from './incoming-keys.js';

/** `oldest` / `newest` by a created_at-like column (else the primary key), or a column name: smallest value kept. */
export type KeepRule = 'oldest' | 'newest' | (string & {});

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
}

export interface RepointCount {
  table: string;
  constraint: string;
  columns: string[];
  rows: number;
}

export interface DuplicateGroup {
  table: string;
  kind: 'unique' | 'singleton';
  /** The manifest's key columns ([] for a singleton). */
  columns: string[];
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

export interface DedupeResult {
  /** null for a dry run. */
  runId: string | null;
  dryRun: boolean;
  keep: KeepRule;
  groups: DuplicateGroup[];
  /** Rows deleted (each archived first). */
  removed: number;
  /** Referencing rows re-pointed. */
  repointed: number;
  refused: DuplicateGroup[];
  /** Rows not grouped because their tenant is NULL (run backfill first). */
  nullTenantRows: { table: string; rows: number }[];
  /**
   * Foreign keys into a table with duplicates whose columns no index leads: PostgreSQL scans the
   * referencing table for every removed row (its own FK check). Index them first on big tables.
   */
  unindexedReferences: { table: string; references: string; constraint: string; columns: string[] }[];
  /** No duplicate group is left (dry run: none was found). */
  complete: boolean;
}

interface KeySpec {
  kind: 'unique' | 'singleton';
  columns: string[];
}

const CREATED_AT_NAMES = ['created_at', 'inserted_at', 'created_on', 'createdAt', 'created', 'creation_date', 'date_created'];

/** The ORDER BY that puts the row to keep first. */
export function keepOrder(table: CatalogTable, key: KeyColumn[], keep: KeepRule): string {
  const pk = (dir: string) => keyOrder('t', key, dir);
  if (keep === 'oldest' || keep === 'newest') {
    const created = CREATED_AT_NAMES.map((n) => findColumn(table, n)).find((c) => c && /^(timestamp|date)/.test(c.type));
    const dir = keep === 'oldest' ? 'ASC' : 'DESC';
    return created ? `t.${ident(created.name)} ${dir} NULLS LAST, ${pk(dir)}` : pk(dir);
  }
  if (!findColumn(table, keep)) {
    throw new TenancyError('usage', `--keep ${keep}: ${table.schema}.${table.name} has no column ${keep}`, {
      hint: 'use --keep oldest, --keep newest, or a column every deduplicated table has',
    });
  }
  return `t.${ident(keep)} ASC NULLS LAST, ${pk('ASC')}`;
}

/**
 * Finds duplicate groups of each `unique` key and `singleton` within a tenant, keeps one row per
 * group, re-points every referencing row to it and deletes the others — one transaction per group,
 * each removed row archived (full row as jsonb) before deletion. A group whose re-pointing fails
 * (e.g. it would violate a unique constraint of the referencing table) is refused and reported.
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
    const targets: { rel: CatalogTable; key: KeyColumn[]; specs: KeySpec[]; order: string }[] = [];
    for (const entry of manifest.tables) {
      if (options.table !== undefined && entry.name !== options.table) continue;
      const specs: KeySpec[] = entry.unique.map((columns) => ({ kind: 'unique' as const, columns }));
      if (entry.singleton) specs.push({ kind: 'singleton', columns: [] });
      if (specs.length === 0) continue;
      const rel = findRelation(live.catalog, manifest.schema, entry.name);
      if (!rel) {
        logger.warn(`table ${manifest.schema}.${entry.name} does not exist; skipped`);
        continue;
      }
      if (!findColumn(rel, manifest.tenant.column)) {
        throw new TenancyError('manifest-live', `${manifest.schema}.${entry.name} has no tenant column ${manifest.tenant.column}; duplicates are counted per tenant`, {
          hint: 'add the tenant column first with the expand migration: `crm-tenancy migrate up`, then `crm-tenancy backfill`',
        });
      }
      const key = primaryKeyColumns(rel, 'dedupe');
      targets.push({ rel, key, specs, order: keepOrder(rel, key, keep) });
    }

    let runId: string | null = null;
    let release: (() => Promise<void>) | undefined;
    if (!options.dryRun) {
      await ensureStateSchema(client, manifest.stateSchema);
      release = await acquireDataLock(client, manifest.stateSchema, manifest.schema, 'dedupe');
      runId = await startRun(client, manifest.stateSchema, 'dedupe', { schema: manifest.schema, table: options.table ?? null, keep });
      logger.info(`dedupe run ${runId}`);
    }
    const groups: DuplicateGroup[] = [];
    const nullTenantRows: { table: string; rows: number }[] = [];
    const unindexedReferences: DedupeResult['unindexedReferences'] = [];
    try {
      for (const target of targets) {
        const { rel, key } = target;
        const tenantCol = ident(manifest.tenant.column);
        const nulls = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${qualified(rel.schema, rel.name)} WHERE ${tenantCol} IS NULL`);
        if (Number(nulls.rows[0].n) > 0) {
          nullTenantRows.push({ table: rel.name, rows: Number(nulls.rows[0].n) });
          logger.warn(`${rel.name}: ${nulls.rows[0].n} row(s) with a NULL ${manifest.tenant.column} are not grouped; run \`crm-tenancy backfill\` first`);
        }
        const incoming = await incomingForeignKeys(client, rel.schema, rel.name);
        const visible = incoming.filter((fk) => fk.schema !== manifest.stateSchema);
        let warned = false;
        for (const spec of target.specs) {
          // Found right before they are resolved: an earlier key of the same table may have removed rows.
          const found = await findGroups(client, rel, key, spec, manifest.tenant.column, target.order);
          if (found.length > 0 && !warned) {
            warned = true;
            for (const fk of visible.filter((f) => !f.indexed)) {
              const columns = fk.columns.map((c) => c.name);
              unindexedReferences.push({ table: fk.table, references: rel.name, constraint: fk.constraint, columns });
              logger.warn(
                `${fk.schema}.${fk.table} (${columns.join(', ')}) references ${rel.name} without an index: PostgreSQL scans ${fk.table} for every removed row; ` +
                  `on a big table first run CREATE INDEX CONCURRENTLY ON ${qualified(fk.schema, fk.table)} (${columns.map((c) => ident(c)).join(', ')})`,
              );
            }
          }
          for (const g of found) {
            const group: DuplicateGroup = {
              table: rel.name,
              kind: spec.kind,
              columns: spec.columns,
              tenant: g.tenant,
              values: g.values,
              kept: g.keys[0],
              removed: g.keys.slice(1),
              repointed: [],
              status: 'planned',
            };
            if (options.dryRun) {
              group.repointed = await countReferences(client, rel, key, visible, group.removed);
            } else {
              await resolveGroup(client, options, runId!, rel, key, visible, group, logger);
            }
            groups.push(group);
          }
        }
      }
      const refused = groups.filter((g) => g.status === 'refused' || g.status === 'skipped');
      const result: DedupeResult = {
        runId,
        dryRun: Boolean(options.dryRun),
        keep,
        groups,
        removed: groups.filter((g) => g.status === 'resolved').reduce((n, g) => n + g.removed.length, 0),
        repointed: groups.filter((g) => g.status !== 'refused').reduce((n, g) => n + g.repointed.reduce((m, r) => m + r.rows, 0), 0),
        refused,
        nullTenantRows,
        unindexedReferences,
        complete: options.dryRun ? groups.length === 0 : refused.length === 0,
      };
      if (runId) {
        await finishRun(client, manifest.stateSchema, runId, 'done', {
          groups: groups.length,
          removed: result.removed,
          repointed: result.repointed,
          refused: refused.length,
        });
      }
      return result;
    } catch (error) {
      if (runId) {
        await finishRun(client, manifest.stateSchema, runId, 'failed', { error: error instanceof Error ? error.message : String(error) }).catch(() => {});
      }
      throw error;
    } finally {
      await release?.();
    }
  });
}

async function findGroups(
  client: pg.ClientBase,
  rel: CatalogTable,
  key: KeyColumn[],
  spec: KeySpec,
  tenantColumn: string,
  order: string,
): Promise<{ tenant: unknown; values: Record<string, unknown>; keys: RowKey[] }[]> {
  const c = ident(tenantColumn);
  const cols = spec.columns.map((col) => `t.${ident(col)}`);
  const values = spec.columns.length
    ? `jsonb_build_object(${spec.columns.map((col) => `${literal(col)}, t.${ident(col)}`).join(', ')})`
    : `'{}'::jsonb`;
  const notNull = spec.columns.map((col) => ` AND t.${ident(col)} IS NOT NULL`).join('');
  const { rows } = await client.query(
    `SELECT to_jsonb(t.${c}) AS tenant, ${values} AS vals, jsonb_agg(${keyJson('t', key)} ORDER BY ${order}) AS keys
       FROM ${qualified(rel.schema, rel.name)} t
      WHERE t.${c} IS NOT NULL${notNull}
      GROUP BY ${[`t.${c}`, ...cols].join(', ')}
     HAVING count(*) > 1
      ORDER BY ${[`t.${c}`, ...cols].join(', ')}`,
  );
  return rows.map((r) => ({ tenant: r.tenant, values: r.vals, keys: r.keys }));
}

/** The referenced columns' values of a row, as text (what referencing rows hold). */
async function refValues(db: pg.ClientBase, rel: CatalogTable, key: KeyColumn[], rowKey: RowKey, columns: string[]): Promise<string[] | undefined> {
  const { rows } = await db.query(
    `SELECT ${columns.map((col, i) => `t.${ident(col)}::text AS v${i}`).join(', ')}
       FROM ${qualified(rel.schema, rel.name)} t WHERE ${keyMatchesJson('t', key, '$1::jsonb')}`,
    [JSON.stringify(rowKey)],
  );
  return rows[0] ? columns.map((_, i) => rows[0][`v${i}`]) : undefined;
}

function referencesMatch(fk: IncomingForeignKey, first: number): string {
  return fk.columns.map((c, i) => `r.${ident(c.name)} = $${first + i}::${c.type}`).join(' AND ');
}

async function countReferences(
  client: pg.ClientBase,
  rel: CatalogTable,
  key: KeyColumn[],
  incoming: IncomingForeignKey[],
  removed: RowKey[],
): Promise<RepointCount[]> {
  const counts: RepointCount[] = [];
  for (const fk of incoming) {
    let rows = 0;
    for (const r of removed) {
      const old = await refValues(client, rel, key, r, fk.refColumns);
      if (!old || old.some((v) => v === null)) continue;
      const res = await client.query<{ n: string }>(
        `SELECT count(*) AS n FROM ${qualified(fk.schema, fk.table)} r WHERE ${referencesMatch(fk, 1)}`,
        old,
      );
      rows += Number(res.rows[0].n);
    }
    if (rows > 0) counts.push({ table: fk.table, constraint: fk.constraint, columns: fk.columns.map((c) => c.name), rows });
  }
  return counts;
}

const REFUSE_CODES = new Set(['23505', '23503', '23514', '23502', '23P01']);

/** One group in one transaction: lock rows, archive removed, re-point references, delete. */
async function resolveGroup(
  client: pg.Client,
  options: DedupeOptions,
  runId: string,
  rel: CatalogTable,
  key: KeyColumn[],
  incoming: IncomingForeignKey[],
  group: DuplicateGroup,
  logger: Logger,
): Promise<void> {
  const { stateSchema } = options.manifest;
  const table = qualified(rel.schema, rel.name);
  const label = `${rel.name} ${JSON.stringify(group.kept)}`;
  try {
    await retryTransaction(
      () =>
        withTransaction(
          client,
          async (tx) => {
            // Each group is atomic: a crash loses whole groups (found again by the next run), never half
            // of one, so waiting for the WAL flush of every group buys nothing.
            await tx.query(`SET LOCAL synchronous_commit = off`);
            group.repointed = [];
            const all = [group.kept, ...group.removed];
            const locked = await tx.query(
              `SELECT 1 FROM ${table} t WHERE ${all.map((_, i) => `(${keyMatchesJson('t', key, `$${i + 1}::jsonb`)})`).join(' OR ')} FOR UPDATE`,
              all.map((k) => JSON.stringify(k)),
            );
            if (locked.rowCount !== all.length) {
              group.status = 'skipped';
              group.reason = 'rows changed while dedupe ran; run it again';
              return;
            }
            for (const fk of incoming) {
              if (!fk.primaryKey) {
                throw new RefusedGroup(`${fk.schema}.${fk.table} references ${rel.name} but has no primary key; its re-points could not be recorded`);
              }
            }
            for (const removed of group.removed) {
              await tx.query(
                `INSERT INTO ${qualified(stateSchema, 'dedupe_archive')} (run_id, table_schema, table_name, key, kept_key, row_data)
                 SELECT $1, $2, $3, ${keyJson('t', key)}, $4::jsonb, to_jsonb(t) FROM ${table} t WHERE ${keyMatchesJson('t', key, '$5::jsonb')}`,
                [runId, rel.schema, rel.name, JSON.stringify(group.kept), JSON.stringify(removed)],
              );
            }
            for (const fk of incoming) {
              const newValues = await refValues(tx, rel, key, group.kept, fk.refColumns);
              let rows = 0;
              for (const removed of group.removed) {
                const oldValues = await refValues(tx, rel, key, removed, fk.refColumns);
                if (!oldValues || !newValues || oldValues.some((v) => v === null)) continue;
                const n = fk.columns.length;
                const res = await tx.query(
                  `WITH moved AS (
                     UPDATE ${qualified(fk.schema, fk.table)} r
                        SET ${fk.columns.map((c, i) => `${ident(c.name)} = $${1 + n + i}::${c.type}`).join(', ')}
                      WHERE ${referencesMatch(fk, 1)}
                     RETURNING ${keyJson('r', fk.primaryKey!)} AS key)
                   INSERT INTO ${qualified(stateSchema, 'dedupe_repoints')}
                          (run_id, table_schema, table_name, constraint_name, columns, key, old_values, new_values)
                   SELECT $${1 + 2 * n}, $${2 + 2 * n}, $${3 + 2 * n}, $${4 + 2 * n}, $${5 + 2 * n}::text[], key, $${6 + 2 * n}::jsonb, $${7 + 2 * n}::jsonb
                     FROM moved`,
                  [
                    ...oldValues,
                    ...newValues,
                    runId,
                    fk.schema,
                    fk.table,
                    fk.constraint,
                    fk.columns.map((c) => c.name),
                    JSON.stringify(oldValues),
                    JSON.stringify(newValues),
                  ],
                );
                rows += res.rowCount ?? 0;
              }
              if (rows > 0) group.repointed.push({ table: fk.table, constraint: fk.constraint, columns: fk.columns.map((c) => c.name), rows });
            }
            for (const removed of group.removed) {
              await tx.query(`DELETE FROM ${table} t WHERE ${keyMatchesJson('t', key, '$1::jsonb')}`, [JSON.stringify(removed)]);
            }
            group.status = 'resolved';
          },
          { lockTimeoutMs: options.lockTimeoutMs ?? 500 },
        ),
      { logger, label: `dedupe ${label}` },
    );
    if ((group.status as DuplicateGroup['status']) === 'resolved') {
      logger.info(`${rel.name}: kept ${JSON.stringify(group.kept)}, removed ${group.removed.map((k) => JSON.stringify(k)).join(', ')} (archived)`);
    }
  } catch (error) {
    if (error instanceof RefusedGroup || (isPgServerError(error) && REFUSE_CODES.has(error.code))) {
      group.status = 'refused';
      group.repointed = [];
      const err = error as Error & { code?: string };
      group.reason = error instanceof RefusedGroup ? err.message : `${err.message} (SQLSTATE ${err.code})`;
      logger.warn(`${rel.name}: group ${JSON.stringify(group.values)} of tenant ${JSON.stringify(group.tenant)} refused: ${group.reason}`);
      return;
    }
    throw error;
  }
}

class RefusedGroup extends Error {}

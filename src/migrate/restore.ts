// Puts tenant values archived by `migrate down --force` back, once `migrate up --count N` has re-added
// the column (the expand phase only: the later phases refuse while the column is empty); and says
// which commands do that: `migrate up --count N && migrate restore RUN_ID && migrate up`.
import type pg from 'pg';
import type { Manifest } from '../config/manifest.js';
import { withClient, type ConnectionOptions } from '../db/connection.js';
import { ident, literal, qualified } from '../db/quote.js';
import { withTransaction } from '../db/transaction.js';
import { TenancyError } from '../errors.js';
import { finishRun, getRun, runsTableExists } from '../state/runs.js';
import { shellQuote } from '../shell-quote.js';
import { readMigrationDir, type MigrationFile } from './migration-file.js';
import { appliedMigrationNames, pendingFiles } from './migrations-table.js';

export interface RestoreOptions extends ConnectionOptions<pg.ClientBase> {
  manifest: Manifest;
  /** The run id `migrate down --force` printed (`migrate-down-…`). */
  runId: string;
  /** Where the migration files are, to say which `migrate up --count N` re-adds a missing column (default `migrations`). */
  migrationsDir?: string;
}

/** A tenant column whose values were archived. */
export interface ArchivedColumnRef {
  schema: string;
  table: string;
  column: string;
}

/**
 * How many pending migrations `migrate up --count N` must run so that every one of these columns is
 * there again: up to the last pending file whose down section drops one (the expand phase). 0 when no
 * pending file re-adds any of them.
 */
export function upCountToReAdd(files: readonly MigrationFile[], applied: readonly string[], columns: readonly ArchivedColumnRef[]): number {
  const pending = pendingFiles([...files], applied);
  let count = 0;
  pending.forEach((file, i) => {
    const adds = (file.meta?.dropsColumns ?? []).some((d) => columns.some((c) => c.schema === d.schema && c.table === d.table && c.column === d.column));
    if (adds) count = i + 1;
  });
  return count;
}

/**
 * The commands that put archived values back, as one line to copy: re-add the columns (only the
 * files that do), restore every run, then the rest of `migrate up`.
 *
 * @example restoreFlow(1, ['migrate-down-20261128T101500-3fa9']) // => 'crm-tenancy migrate up --count 1 && crm-tenancy migrate restore migrate-down-… && crm-tenancy migrate up'
 */
export function restoreFlow(upCount: number, runIds: readonly string[], migrationsDir = 'migrations'): string {
  const dir = migrationsDir === 'migrations' ? '' : ` --migrations-dir ${shellQuote(migrationsDir)}`;
  return [
    ...(upCount > 0 ? [`crm-tenancy migrate up --count ${upCount}${dir}`] : []),
    ...runIds.map((id) => `crm-tenancy migrate restore ${shellQuote(id)}${dir}`),
    `crm-tenancy migrate up${dir}`,
  ].join(' && ');
}

/** The `migrate down --force` runs whose archived values were not restored yet, oldest first. */
export async function unrestoredRuns(options: ConnectionOptions<pg.ClientBase> & { manifest: Manifest }): Promise<string[]> {
  return withClient(options, 'crm-tenancy migrate restore', async (client) => {
    const { stateSchema } = options.manifest;
    if (!(await runsTableExists(client, stateSchema))) return [];
    const { rows } = await client.query<{ id: string }>(
      `SELECT r.id FROM ${qualified(stateSchema, 'runs')} r
        WHERE r.command = 'migrate-down' AND r.status = 'done'
          AND EXISTS (SELECT FROM ${qualified(stateSchema, 'migrate_archive')} a WHERE a.run_id = r.id)
        ORDER BY r.started_at, r.id`,
    );
    return rows.map((r) => r.id);
  });
}

/** `migrate up --count N` for these columns, from the migration files and the migrations table. */
async function upCountFor(client: pg.ClientBase, stateSchema: string, migrationsDir: string, columns: ArchivedColumnRef[]): Promise<number> {
  const files = await readMigrationDir(migrationsDir).catch(() => []);
  return upCountToReAdd(files, await appliedMigrationNames(client, stateSchema), columns);
}

export interface RestoredColumn {
  table: string;
  column: string;
  /** Rows whose value was put back (rows that already have a value are left alone). */
  rows: number;
  /** Archived values whose row no longer exists. */
  missing: number;
}

/**
 * Restores the tenant values a `migrate down --force` run archived, into rows whose tenant column is
 * NULL again (after `migrate up` re-added it), in one transaction; marks the run undone.
 */
export async function restoreArchivedTenants(options: RestoreOptions): Promise<RestoredColumn[]> {
  return withClient(options, 'crm-tenancy migrate restore', (client) => restoreWith(client, options));
}

async function restoreWith(client: pg.ClientBase, options: RestoreOptions): Promise<RestoredColumn[]> {
  const { stateSchema } = options.manifest;
  const state = ident(stateSchema);
  const run = await getRun(client, stateSchema, options.runId).catch(() => undefined);
  if (run?.command !== 'migrate-down') {
    throw new TenancyError('usage', `no migrate down run ${options.runId}`, { hint: 'pass the run id that `migrate down --force` printed' });
  }
  if (run.status === 'undone') throw new TenancyError('usage', `run ${options.runId} was restored already`, { exitCode: 1 });
  const groups = await client.query<{ table_schema: string; table_name: string; column_name: string; keys: string[] }>(
    `SELECT table_schema, table_name, column_name, array_agg(DISTINCT k) AS keys
       FROM ${state}.migrate_archive, LATERAL jsonb_object_keys(row_key) k
      WHERE run_id = $1 GROUP BY 1, 2, 3 ORDER BY 2, 3`,
    [options.runId],
  );
  // Every column must be there again before anything is restored: one message naming them all.
  const missingColumns: ArchivedColumnRef[] = [];
  for (const g of groups.rows) {
    const there = await client.query(
      `SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped`,
      [qualified(g.table_schema, g.table_name), g.column_name],
    );
    if (there.rowCount === 0) missingColumns.push({ schema: g.table_schema, table: g.table_name, column: g.column_name });
  }
  if (missingColumns.length > 0) {
    const dir = options.migrationsDir ?? 'migrations';
    const count = await upCountFor(client, stateSchema, dir, missingColumns);
    const names = missingColumns.map((c) => `${c.schema}.${c.table}.${c.column}`).join(', ');
    throw new TenancyError('usage', `${names} ${missingColumns.length === 1 ? 'does' : 'do'} not exist yet`, {
      hint:
        count > 0
          ? `re-add ${missingColumns.length === 1 ? 'it' : 'them'} first (the expand phase only: the later phases refuse while the column is empty), then restore, then the rest: ${restoreFlow(count, [options.runId], dir)}`
          : `no pending migration in ${dir} re-adds ${missingColumns.length === 1 ? 'it' : 'them'}: pass the --migrations-dir of the migrations \`migrate down\` reverted`,
      exitCode: 1,
    });
  }
  return withTransaction(client, async (tx) => {
    const out: RestoredColumn[] = [];
    for (const g of groups.rows) {
      const t = qualified(g.table_schema, g.table_name);
      const type = await tx.query<{ t: string }>(
        `SELECT format_type(atttypid, atttypmod) AS t FROM pg_catalog.pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped`,
        [t, g.column_name],
      );
      const key = `jsonb_build_object(${g.keys.map((k) => `${literal(k)}, x.${ident(k)}`).join(', ')})`;
      const c = ident(g.column_name);
      const filter = `a.run_id = $1 AND a.table_schema = $2 AND a.table_name = $3 AND a.column_name = $4`;
      const params = [options.runId, g.table_schema, g.table_name, g.column_name];
      const updated = await tx.query(
        `UPDATE ${t} x SET ${c} = a.value::${type.rows[0].t} FROM ${state}.migrate_archive a
          WHERE ${filter} AND a.row_key = ${key} AND x.${c} IS NULL`,
        params,
      );
      const missing = await tx.query<{ n: string }>(
        `SELECT count(*)::int8 AS n FROM ${state}.migrate_archive a WHERE ${filter} AND NOT EXISTS (SELECT FROM ${t} x WHERE a.row_key = ${key})`,
        params,
      );
      out.push({ table: g.table_name, column: g.column_name, rows: updated.rowCount ?? 0, missing: Number(missing.rows[0].n) });
    }
    await finishRun(tx, stateSchema, options.runId, 'undone', { ...(run.summary ?? {}), restored: out });
    return out;
  });
}

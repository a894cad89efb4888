// `migrate up|down`: reads the migration files once, takes the migrate lock, checks every refusal
// before the phase (up) or before anything (down) it concerns, then runs file after file itself,
// recording each in node-pg-migrate's table.
import { remediesText } from './remedies.js';
import pg from 'pg';
import { connect, withClient } from '../db/connection.js';
import { withLockRetry } from '../db/transaction.js';
import { toTenancyError } from '../errors.js';
import type { Manifest } from '../config/manifest.js';
import { silentLogger, type Logger } from '../logger.js';
import { ensureStateSchema } from '../state/state-schema.js';
import { withRun } from '../state/runs.js';
import { applyMigration, type MigrationContext } from './apply-migration.js';
import { dryRun } from './dry-run.js';
import { IndexProgress } from './index-build.js';
import { lockedError, releaseMigrateLock, tryMigrateLock } from './migrate-lock.js';
import { readMigrationsToRun, type MigrationFile } from './migration-file.js';
import type { MigrateOptions, MigrateResult } from './migrate-result.js';
import { appliedMigrationNames, createMigrationsTableSql, pendingFiles } from './migrations-table.js';
import { checkPreconditions, describeProblem, type Refusal } from './preflight.js';
import { chooseMigrations } from './select-migrations.js';
import { archiveTenantValues, findHeldTenantValues, tenantValueRefusals } from './tenant-archive.js';

export type { MigrateOptions, MigrateResult, AppliedMigration, ArchivedColumn } from './migrate-result.js';
export { tryMigrateLock, releaseMigrateLock, lockedError, type LockHolder } from './migrate-lock.js';
export { describeProblem } from './preflight.js';
export { effectiveSql } from './apply-migration.js';

/**
 * Applies pending migrations (up) or reverts the last ones (down). Stops with `refused` (exit 1) before
 * the validate / composite phases while NULL tenants, unknown tenants, duplicates or cross-tenant
 * references remain, and — before reverting anything — when a down migration would drop tenant values
 * (unless `force`, which archives them first). A missing or empty migrations directory is a `usage`
 * error (exit 2) raised before connecting; a second concurrent run throws `locked` (exit 2) naming the
 * holder. A caller's `client` must not be inside a transaction (concurrent index builds need their own).
 *
 * @example
 *   const r = await runMigrate({ manifest, migrationsDir: 'migrations', direction: 'up' });
 *   if (r.refused.length) console.log(r.refused); // [{ table: 'deals', problem: 'null-tenant', count: 3, remedies: [{ kind: 'backfill', table: 'deals' }] }]
 */
export async function runMigrate(options: MigrateOptions): Promise<MigrateResult> {
  const files = await readMigrationsToRun(options.migrationsDir);
  return withClient(options, 'crm-tenancy migrate', async (client) => {
    if (options.dryRun) return dryRun(client, files, options);
    const { stateSchema } = options.manifest;
    const holder = await tryMigrateLock(client, stateSchema);
    if (holder) throw lockedError(holder);
    try {
      await ensureStateSchema(client, stateSchema);
      return await withSessionTimeouts(client, options, () => migrateLocked(client, files, options));
    } finally {
      await releaseMigrateLock(client, stateSchema).catch(() => {});
    }
  });
}

/** Sets lock_timeout (and statement_timeout) for the session, and puts the caller's values back after. */
async function withSessionTimeouts<T>(client: pg.ClientBase, options: MigrateOptions, fn: () => Promise<T>): Promise<T> {
  const before = await client.query<{ lock: string; statement: string }>(
    `SELECT current_setting('lock_timeout') AS lock, current_setting('statement_timeout') AS statement`,
  );
  await client.query(`SELECT set_config('lock_timeout', $1, false)`, [`${options.lockTimeoutMs ?? 1000}ms`]);
  if (options.statementTimeoutMs !== undefined) {
    await client.query(`SELECT set_config('statement_timeout', $1, false)`, [`${options.statementTimeoutMs}ms`]);
  }
  try {
    return await fn();
  } finally {
    const { lock, statement } = before.rows[0];
    await client
      .query(`SELECT set_config('lock_timeout', $1, false), set_config('statement_timeout', $2, false)`, [lock, statement])
      .catch(() => {});
  }
}

async function migrateLocked(client: pg.Client, files: MigrationFile[], options: MigrateOptions): Promise<MigrateResult> {
  const { stateSchema } = options.manifest;
  const logger = options.logger ?? silentLogger;
  await client.query(createMigrationsTableSql(stateSchema));
  const chosen = chooseMigrations(files, await appliedMigrationNames(client, stateSchema), options);
  const result: MigrateResult = { direction: options.direction, dryRun: false, applied: [], pending: [], refused: [], archived: [], ok: true, exitCode: 0 };
  const backendPid = (await client.query<{ pid: number }>(`SELECT pg_backend_pid() AS pid`)).rows[0].pid;
  const progress = new IndexProgress(progressConnection(client, options), backendPid, options.onProgress);
  const ctx: MigrationContext = { client, stateSchema, direction: options.direction, settings: options, logger, progress, onProgress: options.onProgress };
  try {
    if (options.direction === 'up') await migrateUp(ctx, chosen, result, options.manifest);
    else await migrateDown(ctx, chosen, options, result);
  } finally {
    await progress.close();
  }
  result.pending = pendingFiles(files, await appliedMigrationNames(client, stateSchema)).map((f) => f.name);
  return result;
}

function refuse(result: MigrateResult, refusals: Refusal[], logger: Logger): void {
  result.refused = refusals;
  result.ok = false;
  result.exitCode = 1;
  for (const r of refusals) logger.debug(`refused: ${r.table}: ${r.count} ${describeProblem(r)} — fix: ${remediesText(r.remedies)}`);
}

/** Expand and index run at once; the first validate/composite file checks the data every later file needs. */
async function migrateUp(ctx: MigrationContext, chosen: MigrationFile[], result: MigrateResult, manifest: Manifest): Promise<void> {
  let checked = false;
  for (const [i, file] of chosen.entries()) {
    if (!checked && (file.meta?.phase === 'validate' || file.meta?.phase === 'composite')) {
      checked = true;
      const refusals = await checkPreconditions(ctx.client, chosen.slice(i).flatMap((f) => f.meta?.preconditions ?? []), manifest);
      if (refusals.length > 0) return refuse(result, refusals, ctx.logger);
    }
    result.applied.push(await applyMigration(ctx, file));
  }
}

/**
 * Refuses before reverting anything while any of the chosen files would drop tenant values (without
 * --force). With --force, each such file is one recorded `migrate-down` run: its values archived, then
 * the file reverted; an error in either ends the run `failed` with the error.
 */
async function migrateDown(ctx: MigrationContext, chosen: MigrationFile[], options: MigrateOptions, result: MigrateResult): Promise<void> {
  const { client, stateSchema, logger } = ctx;
  const held = await findHeldTenantValues(client, chosen);
  if (held.length > 0 && !options.force) return refuse(result, tenantValueRefusals(held, stateSchema), logger);
  for (const file of chosen) {
    // Counted again right before the drop: the expand phase's default may have stamped rows since.
    const now = (file.meta?.dropsColumns.length ?? 0) > 0 ? await findHeldTenantValues(client, [file]) : [];
    if (now.length === 0) {
      result.applied.push(await applyMigration(ctx, file));
      continue;
    }
    if (!options.force) return refuse(result, tenantValueRefusals(now, stateSchema), logger);
    const done = await withRun(client, stateSchema, 'migrate-down', { migration: file.name }, async (runId) => {
      const label = `${file.name}: archiving tenant values`;
      const archived = await withLockRetry(() => archiveTenantValues(client, stateSchema, runId, now), {
        attempts: (options.retries ?? 10) + 1,
        baseDelayMs: options.retryBaseDelayMs ?? 200,
        logger,
        label,
      }).catch((error: unknown) => {
        throw toTenancyError(error, label);
      });
      for (const a of archived) logger.info(`${a.table}: archived ${a.rows} value(s) of ${a.column} (run ${runId}) before dropping it`);
      const applied = await applyMigration(ctx, file);
      return { result: { archived, applied }, summary: { archived } };
    });
    result.archived.push(...done.archived);
    result.applied.push(done.applied);
  }
}

/** How the index-progress poller reaches the same database: the URL, else the caller's client's parameters. */
function progressConnection(client: pg.Client, options: MigrateOptions): () => Promise<pg.Client> {
  const applicationName = 'crm-tenancy migrate progress';
  if (!options.client || options.databaseUrl) return () => connect({ databaseUrl: options.databaseUrl, applicationName });
  return async () => {
    const second = new pg.Client({
      host: client.host,
      port: client.port,
      user: client.user,
      password: client.password,
      database: client.database,
      ssl: client.ssl,
      application_name: applicationName,
    });
    second.on('error', () => {});
    await second.connect();
    return second;
  };
}

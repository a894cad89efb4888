// Runs one migration file: each unit (a statement, or a BEGIN … COMMIT block) on its own under
// lock_timeout with retries, then records it in the migrations table the way node-pg-migrate does.
import type pg from 'pg';
import { literal } from '../db/quote.js';
import { withLockRetry } from '../db/transaction.js';
import { TenancyError, toTenancyError } from '../errors.js';
import type { Logger, ProgressListener } from '../logger.js';
import { concurrentIndexName, dropInvalidIndex, type IndexProgress } from './index-build.js';
import type { ExecUnit, MigrationFile } from './migration-file.js';
import type { AppliedMigration } from './migrate-result.js';
import { markRunStatement } from './migrations-table.js';

/** How units run: the timeouts that replace the file's, and the lock_timeout retries. */
export interface UnitSettings {
  lockTimeoutMs?: number;
  statementTimeoutMs?: number;
  retries?: number;
  retryBaseDelayMs?: number;
}

/** Where and how a migration runs. */
export interface MigrationContext {
  /** A session of its own (not in a transaction): concurrent index builds need one. */
  client: pg.ClientBase;
  stateSchema: string;
  direction: 'up' | 'down';
  settings: UnitSettings;
  logger: Logger;
  progress: IndexProgress;
  onProgress?: ProgressListener;
}

const SET_RE = /^SET\s+(SESSION\s+)?(lock_timeout|statement_timeout)\s*(=|TO)\s*[^;]*;?$/i;

/** The SQL migrate actually sends for a unit: the file's SET lock_timeout / statement_timeout get our values. */
export function effectiveSql(unit: ExecUnit, settings: Pick<UnitSettings, 'lockTimeoutMs' | 'statementTimeoutMs'>): string {
  const m = SET_RE.exec(unit.sql.trim());
  if (!m) return unit.sql;
  const which = m[2].toLowerCase();
  if (which === 'lock_timeout') return `SET lock_timeout = ${literal(`${settings.lockTimeoutMs ?? 1000}ms`)};`;
  if (settings.statementTimeoutMs !== undefined) return `SET statement_timeout = ${literal(`${settings.statementTimeoutMs}ms`)};`;
  return unit.sql;
}

/** The first line of a unit's SQL, for log lines and errors. */
function describeUnit(sql: string): string {
  const first = sql.replace(/^BEGIN;\s*/i, '').replace(/--[^\n]*\n/g, '').trim().split('\n')[0];
  return first.length > 110 ? `${first.slice(0, 107)}…` : first;
}

/**
 * Applies (up) or reverts (down) one file, unit by unit, and then marks it run / not run. A unit
 * that hits lock_timeout is retried (each unit is idempotent or a whole transaction); the mark is
 * written only after the last unit, so an interrupted file simply runs again.
 */
export async function applyMigration(ctx: MigrationContext, file: MigrationFile): Promise<AppliedMigration> {
  const started = Date.now();
  const units = ctx.direction === 'up' ? file.up : file.down;
  ctx.logger.info(`${ctx.direction === 'up' ? 'applying' : 'reverting'} ${file.name} (${units.length} statements)`);
  let retries = 0;
  try {
    for (const [i, unit] of units.entries()) {
      retries += await runUnit(ctx, file, unit);
      ctx.onProgress?.({ kind: 'migrate-file', task: file.name, done: i + 1, total: units.length });
    }
    const mark = markRunStatement(ctx.stateSchema, file.name, ctx.direction);
    await withLockRetry(() => ctx.client.query(mark.text, mark.values), retryOptions(ctx, `${file.name}: marking it ${ctx.direction === 'up' ? 'run' : 'not run'}`));
  } catch (error) {
    throw error instanceof TenancyError ? error : toTenancyError(error, file.name);
  }
  return { name: file.name, phase: file.meta?.phase ?? null, statements: units.length, retries, ms: Date.now() - started };
}

function retryOptions(ctx: MigrationContext, label: string) {
  return { attempts: (ctx.settings.retries ?? 10) + 1, baseDelayMs: ctx.settings.retryBaseDelayMs ?? 200, logger: ctx.logger, label };
}

/** Runs one unit until it gets its locks; returns the retries it needed. */
async function runUnit(ctx: MigrationContext, file: MigrationFile, unit: ExecUnit): Promise<number> {
  const { client, logger, progress } = ctx;
  const sql = effectiveSql(unit, ctx.settings);
  const index = concurrentIndexName(sql);
  let retries = 0;
  await withLockRetry(async (attempt) => {
    if (attempt > 1) retries++;
    // A concurrent build that hit lock_timeout while waiting for old transactions leaves an
    // INVALID index, which IF NOT EXISTS would then accept: drop it before building again.
    if (index && attempt > 1) await dropInvalidIndex(client, sql, index, logger);
    logger.debug(sql);
    if (index) progress.start(index);
    try {
      await client.query(sql);
    } catch (error) {
      if (unit.transaction) await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      if (index) progress.stop();
    }
  }, retryOptions(ctx, `${file.name}: ${describeUnit(sql)}`));
  return retries;
}

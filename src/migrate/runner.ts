// `migrate up|down`: runs the migration files through node-pg-migrate's runner(), one statement (or
// BEGIN … COMMIT block) at a time under lock_timeout with retries, behind an advisory lock.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { runner, type RunnerOption } from 'node-pg-migrate';
import type { Manifest } from '../config/manifest.js';
import { connect, type ConnectionTarget } from '../db/connection.js';
import { ident, literal, qualified } from '../db/quote.js';
import { isLockTimeout, withLockRetry } from '../db/transaction.js';
import { TenancyError, toTenancyError } from '../errors.js';
import { silentLogger, type Logger, type ProgressListener } from '../logger.js';
import { ensureStateSchema } from '../state/state-schema.js';
import { finishRun, startRun } from '../state/runs.js';
import { releaseAdvisoryLock, tryAdvisoryLock, type LockHolder } from '../state/locks.js';
export type { LockHolder } from '../state/locks.js';
import { MIGRATIONS_TABLE, appliedMigrationNames, pendingFiles } from './generate.js';
import { parseMigrationText, readMigrationDir, type ExecUnit, type MigrationFile } from './migration-file.js';
import { checkPreconditions, type Refusal } from './preflight.js';

export interface MigrateOptions {
  /** Where to connect (else DATABASE_URL / PG*). */
  databaseUrl?: string;
  manifest: Manifest;
  migrationsDir: string;
  direction: 'up' | 'down';
  /** down: how many migrations to revert (default 1). up: how many to apply (default all). */
  count?: number;
  /** Print the SQL that would run; change nothing (no lock, no bookkeeping table, no BEGIN). */
  dryRun?: boolean;
  /** lock_timeout for every statement, in ms (default 1000). */
  lockTimeoutMs?: number;
  /** statement_timeout for every statement, in ms (default: the file's, 30 min). */
  statementTimeoutMs?: number;
  /** Retries of a statement that hit lock_timeout (default 10), with exponential backoff and jitter. */
  retries?: number;
  /** First backoff in ms (default 200). */
  retryBaseDelayMs?: number;
  /** down: drop tenant columns that hold values (archived first in the bookkeeping schema). */
  force?: boolean;
  logger?: Logger;
  /** Progress of index builds (pg_stat_progress_create_index) and of statements within a file. */
  onProgress?: ProgressListener;
}

export interface AppliedMigration {
  name: string;
  phase: string | null;
  /** Units executed (statements or BEGIN … COMMIT blocks). */
  statements: number;
  /** Lock-timeout retries it needed. */
  retries: number;
  ms: number;
}

export interface ArchivedColumn {
  table: string;
  column: string;
  rows: number;
  runId: string;
}

export interface MigrateResult {
  direction: 'up' | 'down';
  dryRun: boolean;
  /** Migrations run (or, in a dry run, that would run). */
  applied: AppliedMigration[];
  /** Migrations still pending afterwards (up). */
  pending: string[];
  /** Why the run stopped early: NULL tenants, duplicates, cross-tenant references, tenant values (down). */
  refused: Refusal[];
  /** The exact SQL, in a dry run. */
  sql?: string;
  archived: ArchivedColumn[];
  /** 0 done, 1 refused. */
  exitCode: 0 | 1;
}

/** Tries the migrate advisory lock (session level); returns who holds it when taken. */
export function tryMigrateLock(client: pg.ClientBase, stateSchema: string): Promise<LockHolder | null> {
  return tryAdvisoryLock(client, 'migrate', stateSchema);
}

export function releaseMigrateLock(client: pg.ClientBase, stateSchema: string): Promise<void> {
  return releaseAdvisoryLock(client, 'migrate', stateSchema);
}

const SET_RE = /^SET\s+(SESSION\s+)?(lock_timeout|statement_timeout)\s*(=|TO)\s*[^;]*;?$/i;
const CIC_RE = /^CREATE\s+(UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(IF\s+NOT\s+EXISTS\s+)?("(?:[^"]|"")+"|\S+)/i;

/** The SQL migrate actually sends for a unit: the file's SET lock_timeout / statement_timeout get our values. */
export function effectiveSql(unit: ExecUnit, options: Pick<MigrateOptions, 'lockTimeoutMs' | 'statementTimeoutMs'>): string {
  const m = SET_RE.exec(unit.sql.trim());
  if (!m) return unit.sql;
  const which = m[2].toLowerCase();
  if (which === 'lock_timeout') return `SET lock_timeout = ${literal(`${options.lockTimeoutMs ?? 1000}ms`)};`;
  if (options.statementTimeoutMs !== undefined) return `SET statement_timeout = ${literal(`${options.statementTimeoutMs}ms`)};`;
  return unit.sql;
}

function describeUnit(sql: string): string {
  const first = sql.replace(/^BEGIN;\s*/i, '').replace(/--[^\n]*\n/g, '').trim().split('\n')[0];
  return first.length > 110 ? `${first.slice(0, 107)}…` : first;
}

function markAsRunSql(stateSchema: string, name: string, direction: 'up' | 'down'): string {
  // What node-pg-migrate itself sends (its names are our file names: [0-9a-z_-] only).
  return direction === 'up'
    ? `INSERT INTO "${stateSchema}"."${MIGRATIONS_TABLE}" (name, run_on) VALUES ('${name}', NOW());`
    : `DELETE FROM "${stateSchema}"."${MIGRATIONS_TABLE}" WHERE name='${name}';`;
}

/**
 * Applies pending migrations (up) or reverts the last ones (down). Stops with `refused` (exit 1) before
 * the validate / composite phases while NULL tenants, unknown tenants, duplicates or cross-tenant
 * references remain, and before a down migration that would drop tenant values (unless `force`).
 * A second concurrent run throws a `locked` error (exit 2) naming the holder.
 *
 * @example
 *   const r = await runMigrate({ manifest, migrationsDir: 'migrations', direction: 'up' });
 *   if (r.refused.length) console.log(r.refused); // [{ table: 'deals', problem: 'null-tenant', count: 3, fix: 'crm-tenancy backfill --table deals' }]
 */
export async function runMigrate(options: MigrateOptions): Promise<MigrateResult> {
  const logger = options.logger ?? silentLogger;
  const target: ConnectionTarget = { databaseUrl: options.databaseUrl, applicationName: 'crm-tenancy migrate' };
  const { stateSchema } = options.manifest;
  const client = await connect(target);
  try {
    const files = await readMigrationDir(options.migrationsDir);
    if (options.dryRun) return await dryRun(client, files, options);

    const holder = await tryMigrateLock(client, stateSchema);
    if (holder) throw lockedError(holder);
    try {
      await ensureStateSchema(client, stateSchema);
      return await migrateLocked(client, target, files, options, logger);
    } finally {
      await releaseMigrateLock(client, stateSchema).catch(() => {});
    }
  } finally {
    await client.end().catch(() => {});
  }
}

export function lockedError(holder: LockHolder): TenancyError {
  const since = holder.since ? ` since ${holder.since.toISOString()}` : '';
  return new TenancyError(
    'locked',
    `another migrate is running: pid ${holder.pid} (application ${holder.applicationName || '?'}, user ${holder.user || '?'}${holder.clientAddr ? `, from ${holder.clientAddr}` : ''})${since}`,
    { hint: 'wait for it to finish, or stop it with pg_cancel_backend(pid) if it is stuck', exitCode: 2 },
  );
}

async function dryRun(client: pg.Client, files: MigrationFile[], options: MigrateOptions): Promise<MigrateResult> {
  const { stateSchema } = options.manifest;
  const applied = await appliedMigrationNames(client, stateSchema);
  const chosen = chooseMigrations(files, applied, options);
  const lines: string[] = [`-- crm-tenancy migrate ${options.direction} --dry-run: nothing below has been run.`];
  const exists = await client.query<{ r: string | null }>(`SELECT to_regclass($1)::text AS r`, [
    `${ident(stateSchema)}.${ident(MIGRATIONS_TABLE)}`,
  ]);
  if (!exists.rows[0].r && chosen.length > 0) {
    lines.push(
      `-- First, the bookkeeping schema ${stateSchema} is created or upgraded, then node-pg-migrate's table:`,
      `CREATE TABLE "${stateSchema}"."${MIGRATIONS_TABLE}" (id SERIAL PRIMARY KEY, name varchar(255) NOT NULL, run_on timestamp NOT NULL);`,
    );
  }
  for (const file of chosen) {
    lines.push('', `-- ${file.name} (${options.direction}${file.meta ? `, phase ${file.meta.phase}` : ''})`);
    if (options.direction === 'up' && file.meta && file.meta.preconditions.length > 0) {
      lines.push(`-- migrate first checks: no NULL or unknown tenants, no duplicates, no cross-tenant references (it refuses otherwise).`);
    }
    if (options.direction === 'down' && file.meta && file.meta.dropsColumns.length > 0) {
      lines.push(`-- migrate first refuses if the dropped tenant columns hold values (with --force it archives them in ${stateSchema}.migrate_archive).`);
    }
    for (const unit of options.direction === 'up' ? file.up : file.down) lines.push(effectiveSql(unit, options));
    lines.push(markAsRunSql(stateSchema, file.name, options.direction));
  }
  const sql = `${lines.join('\n')}\n`;
  return {
    direction: options.direction,
    dryRun: true,
    applied: chosen.map((f) => ({ name: f.name, phase: f.meta?.phase ?? null, statements: (options.direction === 'up' ? f.up : f.down).length, retries: 0, ms: 0 })),
    pending: pendingFiles(files, applied).map((f) => f.name),
    refused: [],
    sql,
    archived: [],
    exitCode: 0,
  };
}

function chooseMigrations(files: MigrationFile[], applied: string[], options: MigrateOptions): MigrationFile[] {
  if (options.direction === 'up') {
    const pending = pendingFiles(files, applied);
    return options.count === undefined ? pending : pending.slice(0, options.count);
  }
  const names = applied.slice(-(options.count ?? 1)).reverse();
  return names.map((name) => {
    const file = files.find((f) => f.name === name);
    if (!file) {
      throw new TenancyError('io', `migration ${name} was run but its file is not in ${options.migrationsDir}`, {
        hint: 'pass the --migrations-dir the migrations were run from',
      });
    }
    return file;
  });
}

async function migrateLocked(
  client: pg.Client,
  target: ConnectionTarget,
  files: MigrationFile[],
  options: MigrateOptions,
  logger: Logger,
): Promise<MigrateResult> {
  const { stateSchema } = options.manifest;
  const result: MigrateResult = {
    direction: options.direction,
    dryRun: false,
    applied: [],
    pending: [],
    refused: [],
    archived: [],
    exitCode: 0,
  };
  const applied = await appliedMigrationNames(client, stateSchema);
  const chosen = chooseMigrations(files, applied, options);
  const backendPid = (await client.query<{ pid: number }>(`SELECT pg_backend_pid() AS pid`)).rows[0].pid;
  await client.query(`SET lock_timeout = ${literal(`${options.lockTimeoutMs ?? 1000}ms`)}`);
  if (options.statementTimeoutMs !== undefined) {
    await client.query(`SET statement_timeout = ${literal(`${options.statementTimeoutMs}ms`)}`);
  }
  const progress = new IndexProgress(target, backendPid, options.onProgress);
  let checked = false;
  try {
    for (const file of chosen) {
      if (options.direction === 'up' && !checked && (file.meta?.phase === 'validate' || file.meta?.phase === 'composite')) {
        checked = true;
        const later = chosen.slice(chosen.indexOf(file));
        const refusals = await checkPreconditions(client, later.flatMap((f) => f.meta?.preconditions ?? []));
        if (refusals.length > 0) {
          result.refused = refusals;
          result.exitCode = 1;
          for (const r of refusals) logger.debug(`refused: ${r.table}: ${r.count} ${describeProblem(r)} — fix: ${r.fix}`);
          break;
        }
      }
      if (options.direction === 'down' && file.meta && file.meta.dropsColumns.length > 0) {
        const stop = await guardDroppedColumns(client, file, options, result, logger);
        if (stop) break;
      }
      result.applied.push(await runOne(client, file, options, logger, progress));
    }
  } finally {
    await progress.close();
  }
  const after = await appliedMigrationNames(client, stateSchema);
  result.pending = pendingFiles(files, after).map((f) => f.name);
  return result;
}

export function describeProblem(r: Refusal): string {
  switch (r.problem) {
    case 'null-tenant':
      return `row(s) with NULL ${r.columns?.[0] ?? 'tenant'}`;
    case 'unknown-tenant':
      return `row(s) whose ${r.columns?.[0] ?? 'tenant'} names no tenant`;
    case 'duplicate':
      return `duplicate row(s) on (${r.columns?.join(', ') ?? ''})`;
    case 'cross-tenant':
      return `row(s) whose ${r.columns?.[0] ?? ''} references another tenant's row`;
    case 'tenant-values':
      return `row(s) with a value in ${r.columns?.[0] ?? 'the tenant column'} (down would drop it)`;
  }
}

async function guardDroppedColumns(
  client: pg.Client,
  file: MigrationFile,
  options: MigrateOptions,
  result: MigrateResult,
  logger: Logger,
): Promise<boolean> {
  const holding: { schema: string; table: string; column: string; primaryKey: string[]; count: number }[] = [];
  for (const d of file.meta!.dropsColumns) {
    const exists = await client.query(
      `SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped`,
      [qualified(d.schema, d.table), d.column],
    );
    if (exists.rowCount === 0) continue;
    const n = await client.query<{ n: string }>(
      `SELECT count(*)::int8 AS n FROM ${qualified(d.schema, d.table)} WHERE ${ident(d.column)} IS NOT NULL`,
    );
    if (Number(n.rows[0].n) > 0) holding.push({ ...d, count: Number(n.rows[0].n) });
  }
  if (holding.length === 0) return false;
  if (!options.force) {
    result.refused = holding.map((h) => ({
      table: h.table,
      problem: 'tenant-values',
      count: h.count,
      fix: `crm-tenancy migrate down --force (archives the values in ${options.manifest.stateSchema}.migrate_archive first)`,
      columns: [h.column],
    }));
    result.exitCode = 1;
    for (const r of result.refused) logger.debug(`refused: ${r.table}: ${r.count} ${describeProblem(r)} — ${r.fix}`);
    return true;
  }
  const state = ident(options.manifest.stateSchema);
  const runId = await startRun(client, options.manifest.stateSchema, 'migrate-down', { migration: file.name });
  for (const h of holding) {
    const t = qualified(h.schema, h.table);
    const key =
      h.primaryKey.length > 0
        ? `jsonb_build_object(${h.primaryKey.map((k) => `${literal(k)}, x.${ident(k)}`).join(', ')})`
        : `to_jsonb(x) - ${literal(h.column)}`;
    const r = await client.query(
      `INSERT INTO ${state}.migrate_archive (run_id, migration, table_schema, table_name, column_name, row_key, value)
       SELECT $1, $2, $3, $4, $5, ${key}, x.${ident(h.column)}::text FROM ${t} x WHERE x.${ident(h.column)} IS NOT NULL`,
      [runId, file.name, h.schema, h.table, h.column],
    );
    result.archived.push({ table: h.table, column: h.column, rows: r.rowCount ?? 0, runId });
    logger.info(`${h.table}: archived ${r.rowCount} value(s) of ${h.column} (run ${runId}) before dropping it`);
  }
  await finishRun(client, options.manifest.stateSchema, runId, 'done', { archived: result.archived });
  return false;
}

/** Our loader for node-pg-migrate: each unit becomes one step; the migration itself runs without a wrapping transaction. */
function sqlLoader(files: Map<string, MigrationFile>) {
  return async (filePaths: string[]) =>
    Promise.all(
      filePaths.map(async (filePath) => {
        const file = files.get(path.resolve(filePath)) ?? parseMigrationText(await readFile(filePath, 'utf8'), path.basename(filePath, '.sql'), filePath);
        const action = (units: ExecUnit[]) => (pgm: { noTransaction(): void; sql(sql: string): void }) => {
          pgm.noTransaction();
          for (const unit of units) pgm.sql(unit.sql);
        };
        return { id: filePath, filePaths: [filePath], actions: { up: action(file.up), down: action(file.down) } };
      }),
    );
}

async function runOne(
  client: pg.Client,
  file: MigrationFile,
  options: MigrateOptions,
  logger: Logger,
  progress: IndexProgress,
): Promise<AppliedMigration> {
  const started = Date.now();
  const units = options.direction === 'up' ? file.up : file.down;
  let done = 0;
  let retries = 0;
  logger.info(`${options.direction === 'up' ? 'applying' : 'reverting'} ${file.name} (${units.length} statements)`);
  const wrapper = {
    query: async (text: string | { text: string }, values?: unknown[]) => {
      const raw = typeof text === 'string' ? text : text.text;
      const unit = units.find((u) => u.sql === raw || `${u.sql};` === raw);
      const sql = unit ? effectiveSql(unit, options) : raw;
      const transactional = /^BEGIN\b/i.test(sql.trim());
      const label = unit ? `${file.name}: ${describeUnit(sql)}` : 'node-pg-migrate bookkeeping';
      const cic = CIC_RE.exec(sql.trim());
      const result = await withLockRetry(
        async (attempt) => {
          if (attempt > 1) retries++;
          // A concurrent build that hit lock_timeout while waiting for old transactions leaves an
          // INVALID index, which IF NOT EXISTS would then accept: drop it before building again.
          if (cic && attempt > 1) await dropInvalidIndex(client, sql, cic[3], logger);
          logger.debug(sql);
          if (cic) progress.start(cic[3]);
          try {
            return await client.query(sql, values as unknown[]);
          } catch (error) {
            if (transactional) await client.query('ROLLBACK').catch(() => {});
            throw error;
          } finally {
            if (cic) progress.stop();
          }
        },
        {
          attempts: (options.retries ?? 10) + 1,
          baseDelayMs: options.retryBaseDelayMs ?? 200,
          logger,
          label,
        },
      );
      if (unit) {
        done++;
        options.onProgress?.({ kind: 'migrate-file', task: file.name, done, total: units.length });
      }
      return result;
    },
  };
  const npmLogger = {
    debug: (m: string) => logger.debug(m),
    info: (m: string) => logger.debug(m),
    warn: (m: string) => logger.debug(m),
    error: (m: string) => logger.debug(m),
  };
  const runnerOptions = {
    dbClient: wrapper as unknown as pg.ClientBase,
    dir: options.migrationsDir,
    // Only *.sql files are migrations (a README or notes in the directory are fine); dotfiles never.
    ignorePattern: '\\..*|.*(?<!\\.sql)',
    migrationsTable: MIGRATIONS_TABLE,
    migrationsSchema: options.manifest.stateSchema,
    direction: options.direction,
    count: 1,
    // Exactly this file (node-pg-migrate filters pending and run migrations by name).
    file: file.name,
    noLock: true,
    checkOrder: true,
    singleTransaction: false,
    logger: npmLogger,
    migrationLoaderStrategies: [{ extensions: ['.sql'], loader: sqlLoader(new Map([[path.resolve(file.path), file]])) }],
  } as unknown as RunnerOption;
  try {
    const ran = await runner(runnerOptions);
    if (ran.length !== 1 || ran[0].name !== file.name) {
      throw new TenancyError('internal', `node-pg-migrate ran ${ran.map((r) => r.name).join(', ') || 'nothing'} instead of ${file.name}`);
    }
  } catch (error) {
    if (error instanceof TenancyError) throw error;
    const cause = (error as { cause?: unknown }).cause;
    throw toTenancyError(isLockTimeout(cause) ? cause : error, `${file.name}`);
  }
  return { name: file.name, phase: file.meta?.phase ?? null, statements: units.length, retries, ms: Date.now() - started };
}

const ON_RE = /\bON\s+(?:ONLY\s+)?((?:"(?:[^"]|"")+"|[^\s."(]+)\.)?("(?:[^"]|"")+"|[^\s."(]+)/i;

/** Drops the INVALID leftover of a failed CREATE INDEX CONCURRENTLY (never a valid index). */
async function dropInvalidIndex(client: pg.Client, statement: string, quotedName: string, logger: Logger): Promise<void> {
  const on = ON_RE.exec(statement);
  const name = quotedName.startsWith('"') ? quotedName : ident(quotedName);
  const schema = on?.[1] ? on[1].slice(0, -1) : null;
  const reg = schema ? `${schema}.${name}` : name;
  const r = await client.query<{ valid: boolean }>(`SELECT indisvalid AS valid FROM pg_catalog.pg_index WHERE indexrelid = to_regclass($1)`, [reg]);
  if (r.rows[0] && !r.rows[0].valid) {
    logger.warn(`dropping the INVALID index ${reg} left by the interrupted build, then building it again`);
    await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${reg}`);
  }
}

/** Polls pg_stat_progress_create_index on a second connection while an index builds. */
class IndexProgress {
  private client: pg.Client | null = null;
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  constructor(
    private readonly target: ConnectionTarget,
    private readonly pid: number,
    private readonly listener?: ProgressListener,
  ) {}

  start(indexName: string): void {
    if (!this.listener) return;
    const task = `index ${indexName.replace(/^"|"$/g, '').replace(/""/g, '"')}`;
    const poll = async () => {
      if (this.busy) return;
      this.busy = true;
      try {
        if (!this.client) this.client = await connect({ ...this.target, applicationName: 'crm-tenancy migrate progress' });
        const r = await this.client.query(
          `SELECT phase, blocks_done, blocks_total, tuples_done, tuples_total FROM pg_catalog.pg_stat_progress_create_index WHERE pid = $1`,
          [this.pid],
        );
        const row = r.rows[0];
        if (row && this.timer) {
          const blocks = Number(row.blocks_total) > 0;
          this.listener!({
            kind: 'index-build',
            task,
            done: Number(blocks ? row.blocks_done : row.tuples_done),
            total: Number(blocks ? row.blocks_total : row.tuples_total) || undefined,
            detail: { phase: row.phase, unit: blocks ? 'blocks' : 'tuples' },
          });
        }
      } catch {
        /* progress is best effort */
      } finally {
        this.busy = false;
      }
    };
    this.timer = setInterval(() => void poll(), 250);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async close(): Promise<void> {
    this.stop();
    await this.client?.end().catch(() => {});
    this.client = null;
  }
}

// What `migrate up|down` takes and returns.
import type { ConnectionOptions } from '../db/connection.js';
import type { Manifest } from '../config/manifest.js';
import type { Logger, ProgressListener } from '../logger.js';
import type { Refusal } from './preflight.js';

export interface MigrateOptions extends ConnectionOptions {
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
  /** Nothing refused: every migration asked for ran (or, in a dry run, would run). */
  ok: boolean;
  /** The CLI's exit code: 0 when ok, 1 refused. */
  exitCode: 0 | 1;
}

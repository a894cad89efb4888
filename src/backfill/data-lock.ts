// Shared helpers of the data-changing commands (backfill, dedupe, undo): one-at-a-time lock and retries.
import type pg from 'pg';
import { TenancyError, isPgServerError } from '../errors.js';
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import { backoffDelay, sleep, withLockRetry } from '../db/transaction.js';
import { connect, type ConnectionTarget } from '../db/connection.js';

/**
 * Takes the session advisory lock that keeps backfill, dedupe and undo on one schema from running
 * at the same time. A killed process loses its session and so its lock: a rerun may resume at once.
 */
export async function acquireDataLock(client: pg.ClientBase, stateSchema: string, schema: string, command: string): Promise<() => Promise<void>> {
  const key = `crm-tenancy:data:${stateSchema}:${schema}`;
  const { rows } = await client.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(hashtext($1)) AS ok`, [key]);
  if (!rows[0].ok) {
    throw new TenancyError('locked', `${command}: another backfill, dedupe or undo is running on schema ${schema}`, {
      hint: 'wait for it to finish (see pg_stat_activity, application_name crm-tenancy …), then run again',
    });
  }
  return async () => {
    await client.query(`SELECT pg_advisory_unlock(hashtext($1))`, [key]).catch(() => {});
  };
}

const RETRYABLE = new Set(['40P01', '40001']);

/**
 * Runs one short transaction, retrying on lock_timeout (withLockRetry) and on deadlock or
 * serialization failures (each attempt must be a complete, repeatable transaction).
 */
export async function retryTransaction<T>(fn: () => Promise<T>, options: { logger?: Logger; label: string }): Promise<T> {
  const logger = options.logger ?? silentLogger;
  for (let attempt = 1; ; attempt++) {
    try {
      return await withLockRetry(() => fn(), { logger, label: options.label, attempts: 20, maxDelayMs: 5_000 });
    } catch (error) {
      if (isPgServerError(error) && RETRYABLE.has(error.code) && attempt < 8) {
        const delay = backoffDelay(attempt, { baseDelayMs: 50 });
        logger.warn(`${options.label}: ${error.message} (SQLSTATE ${error.code}), retrying in ${delay} ms`);
        await sleep(delay);
        continue;
      }
      throw error;
    }
  }
}

/** Uses the caller's client, or opens (and later closes) one. */
export async function withClient<T>(
  options: { client?: pg.Client; databaseUrl?: string },
  applicationName: string,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  if (options.client) return fn(options.client);
  const target: ConnectionTarget = { databaseUrl: options.databaseUrl, applicationName };
  const client = await connect(target);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** p-th percentile (0–100) of a list of numbers, nearest rank; undefined when empty. */
export function percentile(values: readonly number[], p: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

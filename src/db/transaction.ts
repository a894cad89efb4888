// Transactions, timeouts, and the lock_timeout-retry loop every DDL step goes through.
import { AsyncLocalStorage } from 'node:async_hooks';
import type pg from 'pg';
import { TenancyError, isPgServerError } from '../errors.js';
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';

export type IsolationLevel = 'READ COMMITTED' | 'REPEATABLE READ' | 'SERIALIZABLE';

export interface TransactionOptions {
  isolation?: IsolationLevel;
  readOnly?: boolean;
  /** SET LOCAL lock_timeout, in ms. */
  lockTimeoutMs?: number;
  /** SET LOCAL statement_timeout, in ms. */
  statementTimeoutMs?: number;
}

/** Runs fn inside BEGIN … COMMIT; rolls back on any error and rethrows it. */
export async function withTransaction<T>(
  client: pg.ClientBase,
  fn: (client: pg.ClientBase) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  const mode = [
    options.isolation ? `ISOLATION LEVEL ${options.isolation}` : '',
    options.readOnly ? 'READ ONLY' : '',
  ]
    .filter(Boolean)
    .join(' ');
  await client.query(`BEGIN${mode ? ` ${mode}` : ''}`);
  try {
    await setLocalTimeouts(client, options);
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

/** Runs fn inside a transaction that is always rolled back (probes, dry runs). */
export async function withRollback<T>(
  client: pg.ClientBase,
  fn: (client: pg.ClientBase) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  await client.query(`BEGIN${options.isolation ? ` ISOLATION LEVEL ${options.isolation}` : ''}`);
  try {
    await setLocalTimeouts(client, options);
    return await fn(client);
  } finally {
    await client.query('ROLLBACK').catch(() => {});
  }
}

/** SET LOCAL lock_timeout / statement_timeout inside the current transaction. */
export async function setLocalTimeouts(
  client: pg.ClientBase,
  options: Pick<TransactionOptions, 'lockTimeoutMs' | 'statementTimeoutMs'>,
): Promise<void> {
  if (options.lockTimeoutMs !== undefined) {
    await client.query(`SELECT set_config('lock_timeout', $1, true)`, [`${Math.max(0, Math.round(options.lockTimeoutMs))}ms`]);
  }
  if (options.statementTimeoutMs !== undefined) {
    await client.query(`SELECT set_config('statement_timeout', $1, true)`, [
      `${Math.max(0, Math.round(options.statementTimeoutMs))}ms`,
    ]);
  }
}

/** SQLSTATE 55P03 lock_not_available: what lock_timeout raises. */
export const LOCK_NOT_AVAILABLE = '55P03';

export function isLockTimeout(error: unknown): boolean {
  return isPgServerError(error) && error.code === LOCK_NOT_AVAILABLE;
}

export interface RetryOptions {
  /** How many attempts in all (default 8). */
  attempts?: number;
  /** First backoff, in ms (default 200); doubles each time, with full jitter. */
  baseDelayMs?: number;
  /** Cap on one backoff, in ms (default 10 000). */
  maxDelayMs?: number;
  logger?: Logger;
  /** What is being attempted, for the log lines. */
  label?: string;
  /** Injected for tests; defaults to Math.random. */
  random?: () => number;
  /** Injected for tests; defaults to setTimeout. */
  sleep?: (ms: number) => Promise<void>;
  /**
   * Says who holds the lock, for the retry warning (`waiting for pid 4711 (…: LOCK TABLE deals)`).
   * Default: the describer of withLockWaitDescriber around the call, else none (the warning says
   * only that the lock timed out).
   */
  describeWait?: () => Promise<string | undefined>;
}

const lockWaitDescriber = new AsyncLocalStorage<() => Promise<string | undefined>>();

/**
 * Runs fn so that every withLockRetry inside it (at any depth, in any core function) names the
 * lock's holder in its retry warnings, through `describe`: the CLI passes one reading pg_locks on a
 * side connection, so no core function needs a client for it.
 *
 * @example await withLockWaitDescriber(async () => describeBlockers(await findLockBlockers(side)), () => runBackfill(options))
 */
export function withLockWaitDescriber<T>(describe: () => Promise<string | undefined>, fn: () => Promise<T>): Promise<T> {
  return lockWaitDescriber.run(describe, fn);
}

/** The holder's description, or undefined when there is no describer or it failed (never throws). */
async function describeLockWait(options: RetryOptions): Promise<string | undefined> {
  const describe = options.describeWait ?? lockWaitDescriber.getStore();
  if (!describe) return undefined;
  return describe().catch(() => undefined);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Backoff before attempt `attempt + 1`: exponential, capped, with full jitter. */
export function backoffDelay(attempt: number, options: RetryOptions = {}): number {
  const base = options.baseDelayMs ?? 200;
  const cap = options.maxDelayMs ?? 10_000;
  const ceiling = Math.min(cap, base * 2 ** (attempt - 1));
  const random = options.random ?? Math.random;
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * Calls fn until it succeeds, retrying only on lock_timeout (55P03) with exponential backoff and
 * jitter, a bounded number of times; each retry is logged. fn must be safe to repeat (each attempt
 * is its own transaction).
 */
export async function withLockRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 8;
  const logger = options.logger ?? silentLogger;
  const wait = options.sleep ?? sleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (!isLockTimeout(error)) throw error;
      if (attempt >= attempts) {
        throw new TenancyError(
          'lock-timeout',
          `${options.label ?? 'statement'}: could not get its lock after ${attempts} attempts (SQLSTATE 55P03)`,
          {
            cause: error,
            exitCode: 1,
            hint: 'a long transaction holds a conflicting lock; find it in pg_stat_activity / pg_locks, or retry later',
          },
        );
      }
      const delay = backoffDelay(attempt, options);
      const holder = await describeLockWait(options);
      logger.warn(
        `${options.label ?? 'statement'}: lock_timeout (attempt ${attempt}/${attempts}), retrying in ${delay} ms${holder ? `; waiting for ${holder}` : ''}`,
      );
      await wait(delay);
    }
  }
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

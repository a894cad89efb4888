// The bound on init's reads of the data (polymorphic inference): a statement_timeout on every query
// (and a lock_timeout when the session has none), and the reason a read that hit it leaves behind.
import type { Queryable } from '../db/connection.js';
import { isPgServerError } from '../errors.js';

/** Default --inference-timeout: each inference query gets this long, then the pair stays a TODO. */
export const DEFAULT_INFERENCE_TIMEOUT_MS = 30_000;

/**
 * Runs `body` with statement_timeout = `ms` (and lock_timeout = `ms` when the session waits forever
 * for locks), then puts the session's settings back.
 */
export async function withInferenceTimeout<T>(db: Queryable, ms: number, body: () => Promise<T>): Promise<T> {
  const before = await db.query<{ st: string; lt: string }>(`SELECT current_setting('statement_timeout') AS st, current_setting('lock_timeout') AS lt`);
  const { st, lt } = before.rows[0];
  await setTimeouts(db, `${ms}ms`, lt === '0' ? `${ms}ms` : lt);
  try {
    return await body();
  } finally {
    await setTimeouts(db, st, lt);
  }
}

/** Sets both timeouts; retried when the statement itself is cancelled (a bound of a few ms may cancel it too). */
async function setTimeouts(db: Queryable, statement: string, lock: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await db.query(`SELECT set_config('statement_timeout', $1, false), set_config('lock_timeout', $2, false)`, [statement, lock]);
      return;
    } catch (error) {
      if (!hitBound(error) || attempt >= 5) throw error;
    }
  }
}

/** Whether a query was stopped by the bound: statement_timeout (57014) or lock_timeout (55P03). */
export function hitBound(error: unknown): error is Error & { code: string } {
  return isPgServerError(error) && (error.code === '57014' || error.code === '55P03');
}

/** `30000` → `30s`, `90000` → `90s`, `1500` → `1500ms`, `120000` → `2min`. */
export function formatMs(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}min`;
  if (ms >= 1000 && ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** pg_class.reltuples as `≈120M rows` (empty when never analyzed). */
export function approxRows(estimate: number): string {
  if (!(estimate >= 0)) return '';
  const [n, unit] = estimate >= 1e9 ? [estimate / 1e9, 'B'] : estimate >= 1e6 ? [estimate / 1e6, 'M'] : estimate >= 1e3 ? [estimate / 1e3, 'k'] : [estimate, ''];
  return `≈${Math.round(n)}${unit} rows`;
}

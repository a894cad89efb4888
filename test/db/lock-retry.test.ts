// lock_timeout retry (db/transaction.ts): backoff with jitter, retries until the lock is free, gives up bounded.
import { describe, expect, it } from 'vitest';
import { withLockRetry, withTransaction, backoffDelay } from '../../src/db/transaction.js';
import { memoryLogger } from '../../src/logger.js';
import { useTestDatabase } from '../support/database.js';

describe('lock_timeout retry', () => {
  const db = useTestDatabase();

  it('backs off exponentially with jitter, capped', () => {
    expect(backoffDelay(1, { random: () => 0 })).toBe(100);
    expect(backoffDelay(1, { random: () => 1 })).toBe(200);
    expect(backoffDelay(4, { random: () => 1 })).toBe(1600);
    expect(backoffDelay(30, { random: () => 1, maxDelayMs: 5000 })).toBe(5000);
  });

  it('retries a statement blocked by a lock until the lock is released, logging each retry', async () => {
    await db().client.query('CREATE TABLE t (id int)');
    const holder = await db().connect();
    await holder.query('BEGIN; LOCK TABLE t IN ACCESS SHARE MODE');
    const release = setTimeout(() => void holder.query('COMMIT'), 400);
    const logger = memoryLogger();
    const attempts = await withLockRetry(
      async (attempt) => {
        await withTransaction(db().client, (tx) => tx.query('ALTER TABLE t ADD COLUMN c int'), { lockTimeoutMs: 50 });
        return attempt;
      },
      { logger, baseDelayMs: 50, label: 'add column' },
    );
    clearTimeout(release);
    expect(attempts).toBeGreaterThan(1);
    expect(logger.lines.filter((l) => l.level === 'warn')).toHaveLength(attempts - 1);
    expect(logger.lines[0].message).toMatch(/^add column: lock_timeout \(attempt 1\/8\), retrying in \d+ ms$/);
  });

  it('gives up after the bounded number of attempts with exit code 1, changing nothing', async () => {
    await db().client.query('CREATE TABLE u (id int)');
    const holder = await db().connect();
    await holder.query('BEGIN; LOCK TABLE u IN ACCESS SHARE MODE');
    await expect(
      withLockRetry(() => withTransaction(db().client, (tx) => tx.query('ALTER TABLE u ADD COLUMN c int'), { lockTimeoutMs: 20 }), {
        attempts: 3,
        baseDelayMs: 5,
      }),
    ).rejects.toMatchObject({ code: 'lock-timeout', exitCode: 1 });
    await holder.query('COMMIT');
    const { rows } = await db().client.query(`SELECT count(*)::int AS n FROM pg_attribute WHERE attrelid = 'u'::regclass AND attname = 'c'`);
    expect(rows[0].n).toBe(0);
  });
});

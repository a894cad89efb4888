// --lock-wait sets every session's lock_timeout; a retried step's warning names the session holding the lock, and its query.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { withLockRetry, withLockWaitDescriber, withTransaction } from '../../src/db/transaction.js';
import { memoryLogger } from '../../src/logger.js';
import { repoRoot, runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { addMissingTenantColumns, tablesWithColumn } from '../backfill/helpers.js';
import { startCli } from './spawn-cli.js';

const config = path.join(repoRoot, 'tenancy.yaml');

describe('--lock-wait', () => {
  const db = useTestDatabase({ sample: true });

  it('is the lock_timeout of every session: a catalog read behind a lock stops after it, naming the holder', async () => {
    const holder = await db().connect();
    const { rows } = await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    await holder.query('BEGIN; LOCK TABLE deals IN ACCESS EXCLUSIVE MODE');
    try {
      for (const args of [['migrate', 'status'], ['backfill', '--dry-run']]) {
        const r = await runCli([...args, '--lock-wait', '300', '--config', config, '--database-url', db().url]);
        expect({ args, code: r.code }).toEqual({ args, code: 2 });
        expect(r.stderr).toContain('waited for a lock longer than lock_timeout (300 ms)');
        expect(r.stderr).toContain(`held by pid ${rows[0].pid} (AccessExclusiveLock on deals`);
        expect(r.stderr).toMatch(/LOCK TABLE deals IN ACCESS EXCLUSIVE MODE\)/);
      }
      // Units too, and the global option wins over the environment.
      const seconds = await runCli(['migrate', 'status', '--lock-wait', '1s', '--config', config, '--database-url', db().url], {
        env: { CRM_TENANCY_LOCK_TIMEOUT_MS: '200' },
      });
      expect(seconds.stderr).toContain('lock_timeout (1000 ms)');
    } finally {
      await holder.query('COMMIT');
    }
    const bad = await runCli(['migrate', 'status', '--lock-wait', 'soon', '--database-url', db().url]);
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/^error: --lock-wait must be a duration of at least 1 ms/m)]);
    const help = await runCli(['backfill', '--help']);
    expect(help.stdout).toMatch(/Global Options:[\s\S]*--lock-wait <ms>/);
  });

  it('a retried batch warns who holds the lock (pid and query), and goes on once it is released', async () => {
    const c = db().client;
    await addMissingTenantColumns(c, 'public');
    const tables = await tablesWithColumn(c, 'public', 'company_id');
    const holder = await db().connect();
    const { rows } = await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    await holder.query(`BEGIN; LOCK TABLE ${tables.join(', ')} IN EXCLUSIVE MODE`);
    const cli = startCli(['backfill', '--lock-timeout', '100', '--config', config, '--database-url', db().url]);
    try {
      const [warning] = await cli.waitFor(/^warning: .*: batch: lock_timeout \(attempt 1\/\d+\), retrying in \d+ ms.*$/m);
      expect(warning).toMatch(new RegExp(`; waiting for pid ${rows[0].pid} \\(ExclusiveLock on \\w+.*; idle in transaction \\d+ s: BEGIN; LOCK TABLE`));
      // This process's own sessions are never named as the holder.
      expect(warning.match(/pid \d+/g)).toEqual([`pid ${rows[0].pid}`]);
    } finally {
      await holder.query('COMMIT');
    }
    const { code } = await cli.exited;
    expect([0, 1], cli.stderr()).toContain(code);
    expect(cli.stdout()).toMatch(/^backfill run backfill-/m);
  });
});

describe('withLockRetry warnings', () => {
  const db = useTestDatabase();

  async function blockedRetry(options: Parameters<typeof withLockRetry>[1]): Promise<string> {
    await db().client.query('CREATE TABLE IF NOT EXISTS w (id int)');
    const holder = await db().connect();
    await holder.query('BEGIN; LOCK TABLE w IN ACCESS SHARE MODE');
    const logger = memoryLogger();
    await expect(
      withLockRetry(() => withTransaction(db().client, (tx) => tx.query('ALTER TABLE w ADD COLUMN c int'), { lockTimeoutMs: 20 }), {
        attempts: 2,
        baseDelayMs: 1,
        label: 'add column',
        logger,
        ...options,
      }),
    ).rejects.toMatchObject({ code: 'lock-timeout' });
    await holder.query('COMMIT');
    await holder.end();
    return logger.lines[0].message;
  }

  it('without a describer: the line as before; with one (given, or around the call): the holder appended', async () => {
    expect(await blockedRetry({})).toMatch(/^add column: lock_timeout \(attempt 1\/2\), retrying in \d+ ms$/);
    expect(await blockedRetry({ describeWait: async () => 'pid 42 (test)' })).toMatch(/retrying in \d+ ms; waiting for pid 42 \(test\)$/);
    const ambient = await withLockWaitDescriber(async () => 'pid 7 (ambient)', () => blockedRetry({}));
    expect(ambient).toMatch(/; waiting for pid 7 \(ambient\)$/);
    // A describer that fails or finds nobody changes nothing.
    expect(await blockedRetry({ describeWait: async () => Promise.reject(new Error('no')) })).toMatch(/retrying in \d+ ms$/);
    expect(await blockedRetry({ describeWait: async () => undefined })).toMatch(/retrying in \d+ ms$/);
  });
});

// Every command's queries run with a lock timeout: behind another session's lock a command ends in
// one clear message naming that session (pid, lock, query) instead of hanging; a read-only server is
// refused before anything is written.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { assertWritable, withClient } from '../../src/db/connection.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';

const COMMANDS: string[][] = [
  ['backfill', '--dry-run'],
  ['dedupe', '--dry-run'],
  ['generate', '--migrations-dir', 'm', '--policies-dir', 'p'],
  ['migrate', 'status'],
  ['verify'],
];

describe('lock waits end in a message naming the blocker', () => {
  const db = useTestDatabase({ sample: true });
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-lock-wait-'));
    // A role of this test's own as the app role, so verify gets past its role preconditions.
    const app = await db().createRole('app');
    const manifest = (await readFile('tenancy.yaml', 'utf8')).replace('app: [crm_app]', `app: [${app}]`);
    await writeFile(path.join(dir, 'tenancy.yaml'), manifest);
  });
  const cli = (args: string[]) =>
    runCli([...args, '--database-url', db().url, '--config', path.join(dir, 'tenancy.yaml')], {
      cwd: dir,
      env: { CRM_TENANCY_LOCK_TIMEOUT_MS: '700' },
      timeoutMs: 30_000,
    });

  it.each(COMMANDS.map((args) => [args.join(' '), args] as const))('%s: exit 2 naming the pid that holds deals, then gets past it once it is gone', async (_name, args) => {
    const holder = await db().connect();
    const { rows } = await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE public.deals IN ACCESS EXCLUSIVE MODE');
    try {
      const blocked = await cli(args);
      expect(blocked.code, blocked.stderr).toBe(2);
      expect(blocked.stderr).toContain(`held by pid ${rows[0].pid} (AccessExclusiveLock on deals`);
      expect(blocked.stderr).toMatch(/LOCK TABLE public\.deals/);
    } finally {
      await holder.query('ROLLBACK');
    }
    // Without the lock the same command gets past that point (it may stop later for other reasons:
    // this is the sample before its rollout).
    const free = await cli(args);
    expect(free.stderr).not.toMatch(/lock_timeout|held by pid/);
  });

  it('a read-only session is refused with "read-only"; a writable one passes', async () => {
    const url = new URL(db().url);
    url.searchParams.set('options', '-c default_transaction_read_only=on');
    await expect(withClient({ databaseUrl: url.toString() }, 'test', (c) => assertWritable(c, 'backfill'))).rejects.toMatchObject({
      code: 'read-only',
      message: expect.stringContaining('read-only'),
    });
    await expect(withClient({ databaseUrl: db().url }, 'test', (c) => assertWritable(c, 'backfill'))).resolves.toBeUndefined();
  });
});

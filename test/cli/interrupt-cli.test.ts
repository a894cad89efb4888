// Ctrl-C on the real CLI mid-work: exit 130, one line saying what stopped and how to go on, no stack trace, and the rerun goes on.
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { startCli } from './spawn-cli.js';

const config = path.join(repoRoot, 'tenancy.yaml');

/** The whole of stderr after the interrupt: exactly one `interrupted:` line, no error, no stack. */
function expectOneLine(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.startsWith('interrupted:'));
  expect(lines, stderr).toHaveLength(1);
  expect(stderr).not.toMatch(/^error:/m);
  expect(stderr).not.toMatch(/\n\s+at /);
  expect(stderr).not.toMatch(/Connection terminated|unhandled|canceling statement/i);
  expect(stderr.trimEnd().endsWith(lines[0])).toBe(true); // the last thing printed
  return lines[0];
}

describe('Ctrl-C on backfill and migrate', () => {
  const db = useTestDatabase();
  let migrations: string;

  /** Sessions of the CLI still connected (a killed client's backend may take a moment to go). */
  async function cliSessions(): Promise<number> {
    for (let i = 0; i < 100; i++) {
      const { rows } = await db().client.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'crm-tenancy%'`,
      );
      if (rows[0].n === 0) return 0;
      await sleep(50);
    }
    return -1;
  }

  beforeAll(async () => {
    const url = db().url;
    const sample = await runCli(['sample', '--scale', '30', '--database-url', url]);
    expect(sample.code, sample.stderr).toBe(0);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-interrupt-'));
    migrations = path.join(dir, 'migrations');
    const generate = await runCli(['generate', '--migrations-dir', migrations, '--policies-dir', path.join(dir, 'policies'), '--config', config, '--database-url', url]);
    expect(generate.code, generate.stderr).toBe(0);
    // Through the expand phase only: every scoped table has its column, and many rows have no tenant yet.
    const expand = await runCli(['migrate', '--count', '1', '--migrations-dir', migrations, '--config', config, '--database-url', url]);
    expect(expand.code, expand.stderr).toBe(0);
    await db().client.query(`
      UPDATE deals SET company_id = NULL WHERE id % 2 = 0;
      UPDATE activities SET company_id = NULL;
      UPDATE emails SET company_id = NULL;
      UPDATE notifications SET company_id = NULL;
      UPDATE documents SET company_id = NULL;
      UPDATE document_signatures SET company_id = NULL;`);
  }, 180_000);

  async function rowsFilled(): Promise<number> {
    const { rows } = await db().client.query(
      `SELECT CASE WHEN to_regclass('crm_tenancy.backfill_changes') IS NULL THEN 0
                   ELSE (SELECT coalesce(sum(rows), 0)::int FROM crm_tenancy.backfill_changes) END AS n`,
    );
    return rows[0].n;
  }

  it('backfill: stops mid-run, names the run and the rows filled; the same command resumes it', async () => {
    const args = ['backfill', '--batch-size', '40', '--target-batch-ms', '0', '--sleep-ms', '2', '--config', config, '--database-url', db().url];
    const cli = startCli(args);
    const [, runId] = await cli.waitFor(/^backfill run (backfill-\S+)$/m);
    // Mid-work, measured in the bookkeeping: some rows filled, the run not finished.
    while ((await rowsFilled()) < 400) await sleep(20);
    cli.signal('SIGINT');
    const { code } = await cli.exited;
    expect(code).toBe(130);
    const line = expectOneLine(cli.stderr());
    const m = /^interrupted: backfill run (\S+) stopped after ([\d,]+) rows filled; run the same command again to resume$/.exec(line);
    expect(m, line).not.toBeNull();
    expect(m![1]).toBe(runId);
    // The count is what had committed when Ctrl-C came (a batch committing at that moment may add one batch).
    const reported = Number(m![2].replace(/,/g, ''));
    const recorded = await rowsFilled();
    expect(reported).toBeGreaterThanOrEqual(400);
    expect(recorded - reported).toBeGreaterThanOrEqual(0);
    expect(recorded - reported).toBeLessThanOrEqual(40);
    // Its sessions are gone (queries cancelled, connections closed), so nothing holds the data lock.
    expect(await cliSessions()).toBe(0);
    const runs = await db().client.query(`SELECT id, status FROM crm_tenancy.runs WHERE command = 'backfill'`);
    expect(runs.rows).toEqual([{ id: runId, status: 'running' }]);

    const rerun = await runCli(args);
    expect(rerun.stderr).toContain(`resuming interrupted run ${runId}`);
    expect([0, 1], rerun.stderr).toContain(rerun.code);
    const after = await db().client.query(`SELECT id, status FROM crm_tenancy.runs WHERE command = 'backfill'`);
    expect(after.rows).toEqual([{ id: runId, status: 'done' }]);
  }, 120_000);

  it('migrate: stopped during a concurrent index build — exit 130, the file named; the rerun drops the INVALID index and builds it', async () => {
    // An open snapshot: CREATE INDEX CONCURRENTLY waits for it, so Ctrl-C lands inside the build.
    const snapshot = await db().connect();
    await snapshot.query('BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT 1');
    const cli = startCli(['migrate', '--lock-timeout', '60s', '--migrations-dir', migrations, '--config', config, '--database-url', db().url]);
    try {
      for (;;) {
        const { rows } = await db().client.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE application_name = 'crm-tenancy migrate' AND query ILIKE 'CREATE INDEX CONCURRENTLY%' AND wait_event_type = 'Lock'`,
        );
        if (rows[0].n > 0) break;
        if (cli.child.exitCode !== null) throw new Error(`migrate exited: ${cli.stderr()}`);
        await sleep(20);
      }
      cli.signal('SIGINT');
      const { code } = await cli.exited;
      expect(code).toBe(130);
      const line = expectOneLine(cli.stderr());
      expect(line).toMatch(
        /^interrupted: migrate up stopped during 0002_tenancy-index; rerun `crm-tenancy migrate` \(an INVALID index left by the interrupted build is dropped and rebuilt\)$/,
      );
      expect(await cliSessions()).toBe(0);
      // The build was cancelled, not left to finish: its INVALID leftover is there (the snapshot is still open).
      const invalid = await db().client.query(`SELECT count(*)::int AS n FROM pg_index WHERE NOT indisvalid`);
      expect(invalid.rows[0].n).toBe(1);
    } finally {
      await snapshot.query('COMMIT');
    }
    const rerun = await runCli(['migrate', '--migrations-dir', migrations, '--config', config, '--database-url', db().url]);
    expect(rerun.stderr).toMatch(/^applied 0002_tenancy-index in /m);
    const after = await db().client.query(`SELECT count(*)::int AS n FROM pg_index WHERE NOT indisvalid`);
    expect(after.rows[0].n).toBe(0);
  }, 120_000);
});

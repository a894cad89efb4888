// Reliability: kill -9 the backfill CLI at measured points of its work (one job, and --jobs 2); every rerun resumes, and the end result equals an uninterrupted run.
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/backfill-runner.js';
import { loadSampleCrm } from '../../src/sample/sample-crm.js';
import { binPath, repoRoot, runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { addMissingTenantColumns, sampleManifest, sampleManifestText, tableChecksums, tablesWithColumn, writeConfig } from './helpers.js';

const SCALE = 30; // ~20k rows; about half of the scoped rows lose their tenant below
const KILLS = 20;

/** Same statements on every copy: many NULL tenants, several hops deep (deals → activities, documents → signatures). */
async function punchHoles(client: import('pg').Client, schema: string): Promise<void> {
  const s = (t: string) => `"${schema}".${t}`;
  await client.query(`
    UPDATE ${s('deals')} SET company_id = NULL WHERE id % 2 = 0;
    UPDATE ${s('activities')} SET company_id = NULL;
    UPDATE ${s('emails')} SET company_id = NULL;
    UPDATE ${s('notifications')} SET company_id = NULL;
    UPDATE ${s('quotes')} SET company_id = NULL;
    UPDATE ${s('payment_history')} SET company_id = NULL;
    UPDATE ${s('workflow_executions')} SET company_id = NULL;
    UPDATE ${s('documents')} SET company_id = NULL;
    UPDATE ${s('document_signatures')} SET company_id = NULL;`);
}

describe('backfill survives kill -9 in the middle of its work', () => {
  const db = useTestDatabase();
  let tables: string[];
  const before: Record<string, Record<string, string>> = {};
  // The copies are loaded separately (their timestamps differ), so they are compared on what backfill
  // may change: the tenant of each row; everything else must stay exactly as it was.
  const TENANT_ONLY = `(t.id, to_jsonb(t) -> 'company_id')::text`;
  const EXCEPT_TENANT = `(to_jsonb(t) - 'company_id')::text`;

  beforeAll(async () => {
    const c = db().client;
    for (const schema of ['orig', 'ref', 'kill', 'kill2']) {
      await loadSampleCrm(c, { scale: SCALE, schema });
      await addMissingTenantColumns(c, schema);
      await punchHoles(c, schema);
    }
    tables = await tablesWithColumn(c, 'kill', 'company_id');
    for (const copy of ['kill', 'kill2']) before[copy] = await tableChecksums(c, copy, EXCEPT_TENANT);
  }, 120_000);

  /** Rows changed so far by the runs on a copy, from its bookkeeping (0 before the bookkeeping exists). */
  async function rowsChanged(copy: string): Promise<number> {
    const c = db().client;
    if ((await c.query(`SELECT to_regclass('st_${copy}.backfill_changes') AS t`)).rows[0].t === null) return 0;
    const { rows } = await c.query(`SELECT coalesce(sum(rows), 0)::int AS n FROM st_${copy}.backfill_changes`);
    return rows[0].n;
  }

  /**
   * Runs fn while holding EXCLUSIVE locks on the copy's backfill_progress and runs. Every transaction
   * that records a change also writes backfill_progress (a batch, or a table's finish), and a run's
   * end writes runs: while the locks are held nothing of the run can commit, so what fn reads is the
   * state the run is in — also if fn kills it. A batch that reaches its progress update meanwhile
   * waits inside its transaction, with its rows updated and recorded, and dies there uncommitted.
   */
  async function withBookkeepingFrozen<T>(copy: string, fn: () => Promise<T>): Promise<T> {
    const c = db().client;
    await c.query('BEGIN');
    try {
      await c.query(`SET LOCAL lock_timeout = '10s'`);
      await c.query(`LOCK TABLE st_${copy}.backfill_progress, st_${copy}.runs IN EXCLUSIVE MODE`);
      return await fn();
    } finally {
      await c.query('COMMIT');
    }
  }

  /** Sessions of the CLI waiting for a lock: a batch transaction stopped by withBookkeepingFrozen. */
  async function batchesWaiting(): Promise<number> {
    const { rows } = await db().client.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'crm-tenancy backfill' AND wait_event_type = 'Lock'`,
    );
    return rows[0].n;
  }

  /** Waits until no session of a killed CLI is left (it would still hold the data lock for a moment). */
  async function backendsGone(): Promise<void> {
    for (;;) {
      const { rows } = await db().client.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'crm-tenancy backfill'`,
      );
      if (rows[0].n === 0) return;
      await sleep(10);
    }
  }

  /**
   * Starts the CLI and, once the bookkeeping shows at least `target` changed rows and at least one
   * batch of this process, SIGKILLs it with the bookkeeping frozen: the kill lands exactly at
   * `atKill` changed rows. Resolves when the process is gone; `atKill` is null when it exited first.
   */
  async function killAtProgress(
    args: string[],
    copy: string,
    target: number,
  ): Promise<{ atKill: number | null; insideBatch: boolean; stderr: string }> {
    const start = await rowsChanged(copy);
    const child = spawn(process.execPath, [binPath, ...args], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    let exited = false;
    const gone = new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', () => {
        exited = true;
        resolve();
      });
    });
    let atKill: number | null = null;
    let insideBatch = false;
    try {
      while (!exited && atKill === null) {
        // Read without a lock until the target is reached (counts only grow), so polling does not slow the run.
        const seen = (await bookkeepingExists(copy)) ? await rowsChanged(copy) : 0;
        if (seen >= target && seen > start) {
          atKill = await withBookkeepingFrozen(copy, async () => {
            const n = await rowsChanged(copy);
            if (n < target || n <= start || exited) return null;
            // Give a batch in flight up to 100 ms to reach its progress update, so most kills land inside
            // a batch transaction; the state stays frozen either way.
            for (let waited = 0; waited < 100 && !(insideBatch = (await batchesWaiting()) > 0); waited += 5) await sleep(5);
            child.kill('SIGKILL');
            return n;
          });
        }
        if (atKill === null) await sleep(10);
      }
    } finally {
      if (!exited) child.kill('SIGKILL');
      await gone;
      await backendsGone();
    }
    return { atKill, insideBatch, stderr };
  }

  /** The bookkeeping tables are created in one transaction: all of them exist, or none. */
  async function bookkeepingExists(copy: string): Promise<boolean> {
    const { rows } = await db().client.query(`SELECT to_regclass('st_${copy}.runs') IS NOT NULL AS ok`);
    return rows[0].ok;
  }

  /** No row got a wrong tenant, every changed row is recorded exactly once. */
  async function checkInvariants(copy: string): Promise<{ changes: number; running: boolean }> {
    const c = db().client;
    const hasState = (await c.query(`SELECT to_regclass('st_${copy}.backfill_changed_rows') AS t`)).rows[0].t !== null;
    for (const table of tables) {
      const { rows } = await c.query(
        `SELECT (SELECT count(*)::int FROM ${copy}.${table} k JOIN ref.${table} r USING (id)
                  WHERE k.company_id IS NOT NULL AND k.company_id IS DISTINCT FROM r.company_id) AS wrong,
                (SELECT count(*)::int FROM ${copy}.${table} k JOIN orig.${table} o USING (id)
                  WHERE k.company_id IS DISTINCT FROM o.company_id
                    ${hasState ? `AND NOT EXISTS (SELECT 1 FROM st_${copy}.backfill_changed_rows ch WHERE ch.table_name = $1 AND (ch.key ->> 'id')::int = k.id)` : ''}) AS unrecorded
                ${hasState ? `, (SELECT count(*)::int - count(DISTINCT key)::int FROM st_${copy}.backfill_changed_rows WHERE table_name = $1) AS twice` : ''}`,
        hasState ? [table] : [],
      );
      expect({ table, ...rows[0] }).toEqual({ table, wrong: 0, unrecorded: 0, ...(hasState ? { twice: 0 } : {}) });
    }
    if (!hasState) return { changes: 0, running: false };
    const { rows } = await c.query(
      `SELECT (SELECT count(*)::int FROM st_${copy}.backfill_changed_rows) AS changes,
              EXISTS (SELECT 1 FROM st_${copy}.runs WHERE status = 'running') AS running`,
    );
    return rows[0];
  }

  let reference: { ok: boolean; changes: number } | undefined;
  async function referenceRun(): Promise<{ ok: boolean; changes: number }> {
    if (!reference) {
      const r = await runBackfill({ databaseUrl: db().url, manifest: await sampleManifest('ref', 'st_ref'), batchSize: 40, targetBatchMs: 0 });
      const changes = Number((await db().client.query(`SELECT count(*) AS n FROM st_ref.backfill_changed_rows`)).rows[0].n);
      reference = { ok: r.ok, changes };
    }
    return reference;
  }

  /**
   * `kills` kills at targets spread evenly over 5 %–80 % of the work (measured in changed rows), each
   * followed by a resume; then a last run to the end. Every kill is checked to land mid-work: the run
   * is left `running` with exactly the changes committed at the kill, more than before, fewer than all.
   */
  async function killAndResume(copy: string, kills: number, extra: string[]): Promise<void> {
    const { ok: complete, changes: refChanges } = await referenceRun();
    expect(refChanges).toBeGreaterThan(5000);
    const config = await writeConfig(await sampleManifestText(copy, `st_${copy}`));
    const args = ['backfill', '--config', config, '--database-url', db().url, '--batch-size', '40', '--target-batch-ms', '0', '--sleep-ms', '2', ...extra];
    const landed: number[] = [];
    let insideBatches = 0;
    let last = 0;
    for (let i = 0; i < kills; i++) {
      const target = Math.round(refChanges * (0.05 + (0.75 * i) / Math.max(1, kills - 1)));
      const { atKill, insideBatch, stderr } = await killAtProgress(args, copy, target);
      if (insideBatch) insideBatches++;
      expect(atKill, `kill ${i + 1}: the CLI exited before reaching ${target} changed rows: ${stderr}`).not.toBeNull();
      const state = await checkInvariants(copy);
      // Mid-work by construction, and checked: the interrupted run is still `running`, and exactly what
      // was committed when the process died is there — nothing committed after it.
      expect({ kill: i + 1, running: state.running, changes: state.changes }).toEqual({ kill: i + 1, running: true, changes: atKill });
      expect(state.changes).toBeGreaterThan(last);
      expect(state.changes).toBeGreaterThanOrEqual(target);
      expect(state.changes).toBeLessThan(refChanges);
      landed.push(state.changes);
      last = state.changes;
    }
    const final = await runCli(args);
    expect(final.code).toBe(complete ? 0 : 1);
    await checkInvariants(copy);

    expect(await tableChecksums(db().client, copy, TENANT_ONLY)).toEqual(await tableChecksums(db().client, 'ref', TENANT_ONLY));
    expect(await tableChecksums(db().client, copy, EXCEPT_TENANT)).toEqual(before[copy]);
    const { rows } = await db().client.query(`SELECT count(*)::int AS n FROM st_${copy}.backfill_changed_rows`);
    expect(rows[0].n).toBe(refChanges);
    const runs = await db().client.query(`SELECT status FROM st_${copy}.runs`);
    expect(runs.rows).toEqual([{ status: 'done' }]); // one run, resumed every time
    // Information only (timing decides it): kills that hit a batch between its writes and its commit.
    console.log(
      `${copy}: ${kills} kills, all mid-work, at ${landed.join(', ')} of ${refChanges} changed rows; ${insideBatches} inside an open batch transaction`,
    );
  }

  it('20 kills, 20 resumptions: same data as an uninterrupted run, nothing processed wrongly, nothing lost', async () => {
    await killAndResume('kill', KILLS, []);
  }, 300_000);

  it('--jobs 2 (batches committed out of order): 10 kills, the same end result, every row recorded once', async () => {
    await killAndResume('kill2', 10, ['--jobs', '2']);
  }, 300_000);
});

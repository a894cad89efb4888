// Reliability: kill -9 the backfill CLI at random points (one job, and --jobs 2); every rerun resumes, and the end result equals an uninterrupted run.
import { spawn } from 'node:child_process';
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

/**
 * Starts the CLI and kills it (SIGKILL) a random 0–150 ms after it committed its first batch, so
 * every kill lands in the middle of the work whatever the machine's speed; resolves when it is gone.
 */
function killMidRun(args: string[], committed: () => Promise<number>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [binPath, ...args], { cwd: repoRoot, stdio: 'ignore', env: { ...process.env, NO_COLOR: '1' } });
    let exited = false;
    child.on('error', reject);
    child.on('exit', () => {
      exited = true;
      resolve();
    });
    void (async () => {
      const before = await committed();
      while (!exited && (await committed()) <= before) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 150)));
      child.kill('SIGKILL');
    })().catch(reject);
  });
}

describe('backfill survives kill -9 at random points', () => {
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

  /** Batches committed so far by the runs on the `kill` copy (0 before the bookkeeping exists). */
  async function batchesCommitted(copy: string): Promise<number> {
    const c = db().client;
    if ((await c.query(`SELECT to_regclass('st_${copy}.backfill_progress') AS t`)).rows[0].t === null) return 0;
    const { rows } = await c.query(`SELECT coalesce(sum(batches), 0)::int AS n FROM st_${copy}.backfill_progress`);
    return rows[0].n;
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

  let reference: { complete: boolean; changes: number } | undefined;
  async function referenceRun(): Promise<{ complete: boolean; changes: number }> {
    if (!reference) {
      const r = await runBackfill({ databaseUrl: db().url, manifest: await sampleManifest('ref', 'st_ref'), batchSize: 40, targetBatchMs: 0 });
      const changes = Number((await db().client.query(`SELECT count(*) AS n FROM st_ref.backfill_changed_rows`)).rows[0].n);
      reference = { complete: r.complete, changes };
    }
    return reference;
  }

  async function killAndResume(copy: string, kills: number, extra: string[]): Promise<number> {
    const { complete, changes: refChanges } = await referenceRun();
    expect(refChanges).toBeGreaterThan(5000);
    const config = await writeConfig(await sampleManifestText(copy, `st_${copy}`));
    const args = ['backfill', '--config', config, '--database-url', db().url, '--batch-size', '40', '--target-batch-ms', '0', '--sleep-ms', '2', ...extra];
    let midRun = 0;
    let last = -1;
    for (let i = 0; i < kills; i++) {
      await killMidRun(args, () => batchesCommitted(copy));
      const state = await checkInvariants(copy);
      if (state.running && state.changes > 0 && state.changes < refChanges) midRun++;
      expect(state.changes).toBeGreaterThanOrEqual(Math.max(last, 0));
      last = state.changes;
    }
    const final = await runCli(args);
    expect(final.code).toBe(complete ? 0 : 1);
    await checkInvariants(copy);

    expect(await tableChecksums(db().client, copy, TENANT_ONLY)).toEqual(await tableChecksums(db().client, 'ref', TENANT_ONLY));
    expect(await tableChecksums(db().client, copy, EXCEPT_TENANT)).toEqual(before[copy]);
    const { rows } = await db().client.query(`SELECT count(*)::int AS n FROM st_${copy}.backfill_changed_rows`);
    expect(rows[0].n).toBe(refChanges);
    console.log(`${copy}: ${kills} kills, ${midRun} in the middle of the work; ${refChanges} rows filled`);
    return midRun;
  }

  it('20 kills, 20 resumptions: same data as an uninterrupted run, nothing processed wrongly, nothing lost', async () => {
    // Most kills must land in the middle of the work, or the test would prove little.
    expect(await killAndResume('kill', KILLS, [])).toBeGreaterThanOrEqual(15);
  }, 120_000);

  it('--jobs 2 (batches committed out of order): 10 kills, the same end result, every row recorded once', async () => {
    expect(await killAndResume('kill2', 10, ['--jobs', '2'])).toBeGreaterThanOrEqual(7);
  }, 120_000);
});

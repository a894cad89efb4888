// undo: after backfill (+ detach) and after dedupe the tables equal the originals; changed rows are left alone; no second undo.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/config/manifest.js';
import { runBackfill } from '../../src/backfill/backfill-runner.js';
import { runDedupe } from '../../src/dedupe/dedupe-runner.js';
import { listRuns, undoRun } from '../../src/undo/undo-runner.js';
import { loadSampleCrm } from '../../src/sample/sample-crm.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { addMissingTenantColumns, sampleManifest, sampleManifestText, tableChecksums, writeConfig } from '../backfill/helpers.js';

describe('undo on the sample CRM', () => {
  const db = useTestDatabase();
  let manifest: Manifest;
  let config: string;
  let original: Record<string, string>;
  let backfillRun: string;
  let dedupeRun: string;
  let afterBackfill: Record<string, string>;

  beforeAll(async () => {
    await loadSampleCrm(db().client, { schema: 'crm' });
    await addMissingTenantColumns(db().client, 'crm');
    manifest = await sampleManifest('crm', 'crm_state');
    config = await writeConfig(await sampleManifestText('crm', 'crm_state'));
    original = await tableChecksums(db().client, 'crm');
  });

  it('undo after dedupe, then after backfill --detach-cross-tenant: every table equals its original', async () => {
    const backfill = await runBackfill({ databaseUrl: db().url, manifest, detachCrossTenant: true });
    backfillRun = backfill.runId!;
    afterBackfill = await tableChecksums(db().client, 'crm');
    expect(afterBackfill).not.toEqual(original);
    const dedupe = await runDedupe({ databaseUrl: db().url, manifest });
    dedupeRun = dedupe.runId!;
    expect(dedupe.removed).toBe(1);
    expect(await tableChecksums(db().client, 'crm')).not.toEqual(afterBackfill);

    const dry = await undoRun({ databaseUrl: db().url, manifest, runId: dedupeRun, dryRun: true });
    expect(dry.restored).toBe(2);
    expect(await tableChecksums(db().client, 'crm')).not.toEqual(afterBackfill); // the dry run rolled back

    const res = await runCli(['undo', dedupeRun, '--config', config, '--database-url', db().url]);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('twilio_settings: 1 removed row re-inserted');
    expect(await tableChecksums(db().client, 'crm')).toEqual(afterBackfill);

    const undone = await undoRun({ databaseUrl: db().url, manifest, runId: backfillRun });
    expect(undone.changedSince).toEqual([]);
    expect(undone.steps.find((s) => s.kind === 'detach' && s.table === 'deals')).toMatchObject({ column: 'contact_id', restored: 2 });
    expect(await tableChecksums(db().client, 'crm')).toEqual(original);
  });

  it('refuses a second undo and an unknown run id (exit 2); --list shows the runs and their status', async () => {
    const twice = await runCli(['undo', backfillRun, '--config', config, '--database-url', db().url]);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/already undone/);
    const unknown = await runCli(['undo', 'backfill-19700101T000000-beef', '--config', config, '--database-url', db().url]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no backfill or dedupe run/);
    const list = await runCli(['undo', '--list', '--json', '--config', config, '--database-url', db().url]);
    expect(list.code).toBe(0);
    const runs = JSON.parse(list.stdout);
    expect(runs.map((r: { id: string; status: string }) => [r.id, r.status])).toEqual([
      [dedupeRun, 'undone'],
      [backfillRun, 'undone'],
    ]);
    expect((await listRuns({ databaseUrl: db().url, manifest })).length).toBe(2);
  });

  it('leaves rows changed since the run alone and reports them (exit 1)', async () => {
    const run = await runBackfill({ databaseUrl: db().url, manifest });
    const { rows } = await db().client.query(
      `SELECT (key ->> 'id')::int AS id, new_value FROM crm_state.backfill_changed_rows WHERE run_id = $1 AND table_name = 'documents' ORDER BY id LIMIT 1`,
      [run.runId],
    );
    const id = rows[0].id;
    const other = rows[0].new_value === 1 ? 2 : 1;
    await db().client.query(`UPDATE crm.documents SET company_id = $2 WHERE id = $1`, [id, other]);
    const res = await runCli(['undo', run.runId!, '--json', '--config', config, '--database-url', db().url]);
    expect(res.code).toBe(1);
    const report = JSON.parse(res.stdout);
    expect(report.changedSince).toEqual([
      { kind: 'fill', table: 'documents', column: 'company_id', key: { id }, expected: rows[0].new_value, actual: other, gone: false },
    ]);
    const { rows: now } = await db().client.query(`SELECT company_id FROM crm.documents WHERE id = $1`, [id]);
    expect(now[0].company_id).toBe(other);
    const nulls = await db().client.query(`SELECT count(*)::int AS n FROM crm.documents WHERE company_id IS NULL`);
    expect(nulls.rows[0].n).toBe(1); // the other filled document went back to NULL
  });
});

// backfill on the sample CRM: the planted NULLs (several hops deep), dry run, rerun, cross-tenant detach, exit codes.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/config/manifest.js';
import { runBackfill } from '../../src/backfill/backfill-runner.js';
import { loadSampleCrm } from '../../src/sample/sample-crm.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { addMissingTenantColumns, sampleManifest, sampleManifestText, schemaExists, tableChecksums, writeConfig } from './helpers.js';

describe('backfill on the sample CRM', () => {
  const db = useTestDatabase();
  const schema = 'crm';
  const state = 'crm_state';
  let manifest: Manifest;

  beforeAll(async () => {
    await loadSampleCrm(db().client, { schema });
    await loadSampleCrm(db().client, { schema: 'raw' });
    await addMissingTenantColumns(db().client, schema);
    manifest = await sampleManifest(schema, state);
  });

  const nulls = async (table: string) =>
    Number((await db().client.query(`SELECT count(*) AS n FROM crm.${table} WHERE company_id IS NULL`)).rows[0].n);

  it('could not run (exit 2) while a scoped table lacks the tenant column, and says to run the expand migration', async () => {
    const config = await writeConfig(await sampleManifestText('raw', 'raw_state'));
    const res = await runCli(['backfill', '--config', config, '--database-url', db().url]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/has no tenant column company_id/);
    expect(res.stderr).toContain('crm-tenancy migrate up');
    expect(await schemaExists(db().client, 'raw_state')).toBe(false);
  });

  it('could not run (exit 2) with an unknown --table', async () => {
    const config = await writeConfig(await sampleManifestText(schema, state));
    const res = await runCli(['backfill', '--config', config, '--database-url', db().url, '--table', 'no_such_table']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/no_such_table is not a scoped table/);
  });

  it('dry run: reports every planted NULL, including two hops deep, and writes nothing (not even bookkeeping)', async () => {
    const before = await tableChecksums(db().client, schema);
    const result = await runBackfill({ databaseUrl: db().url, manifest, dryRun: true });
    const filled = Object.fromEntries(result.tables.filter((t) => t.filled > 0).map((t) => [t.table, t.filled]));
    expect(filled).toEqual({
      activities: 3,
      twilio_settings: 1,
      phone_numbers: 1,
      email_campaigns: 4,
      bulk_email_campaigns: 2, // via email_campaigns, whose company_id did not exist before the expand step
      documents: 2,
      document_signatures: 2, // via documents, NULL themselves: two hops
      notifications: 2,
      performance_alerts: 6,
      workflow_executions: 5,
      user_conversations: 10,
    });
    expect(result.runId).toBeNull();
    expect(result.ok).toBe(true);
    expect(result.orphans).toEqual([]);
    expect(result.conflicts).toEqual([]);
    expect(result.crossTenant.filter((c) => c.found > 0).map((c) => [c.table, c.column, c.found])).toEqual([
      ['deals', 'contact_id', 2],
      ['activities', 'contact_id', 1],
      ['quotes', 'deal_id', 1],
    ]);
    expect(await tableChecksums(db().client, schema)).toEqual(before);
    expect(await schemaExists(db().client, state)).toBe(false);
  });

  it('fills every NULL parents first, records each change; a rerun changes nothing and still reports', async () => {
    const result = await runBackfill({ databaseUrl: db().url, manifest, batchSize: 2, targetBatchMs: 0 });
    expect(result.ok).toBe(true);
    expect(result.runId).toMatch(/^backfill-/);
    for (const table of ['activities', 'documents', 'document_signatures', 'bulk_email_campaigns', 'email_campaigns', 'phone_numbers']) {
      expect(await nulls(table)).toBe(0);
    }
    // The two-hop rows got their document's tenant, which got its folder's.
    const { rows: hops } = await db().client.query(
      `SELECT count(*) FILTER (WHERE s.company_id = d.company_id AND d.company_id = f.company_id) AS ok, count(*) AS n
         FROM crm.document_signatures s JOIN crm.documents d ON d.id = s.document_id JOIN crm.folders f ON f.id = d.folder_id`,
    );
    expect(hops[0].ok).toBe(hops[0].n);
    const { rows: changes } = await db().client.query(
      `SELECT count(*)::int AS n, count(DISTINCT (table_name, key))::int AS distinct_rows FROM crm_state.backfill_changed_rows WHERE run_id = $1`,
      [result.runId],
    );
    const filledTotal = result.tables.reduce((n, t) => n + t.filled, 0);
    expect(filledTotal).toBe(38);
    expect(changes[0]).toEqual({ n: filledTotal, distinct_rows: filledTotal });
    // Cross-tenant references are information only without --detach-cross-tenant.
    expect(result.crossTenant.find((c) => c.table === 'deals' && c.column === 'contact_id')).toMatchObject({ found: 2, detached: 0, remaining: 2 });

    const after = await tableChecksums(db().client, schema);
    const again = await runBackfill({ databaseUrl: db().url, manifest });
    expect(again.runId).not.toBe(result.runId);
    expect(again.tables.every((t) => t.filled === 0)).toBe(true);
    expect(again.ok).toBe(true);
    expect(await tableChecksums(db().client, schema)).toEqual(after);
  });

  it('--detach-cross-tenant sets the nullable cross-tenant FKs to NULL, recorded, and reports how many (CLI, --json)', async () => {
    const config = await writeConfig(await sampleManifestText(schema, state));
    const res = await runCli(['backfill', '--config', config, '--database-url', db().url, '--detach-cross-tenant', '--json']);
    expect(res.code).toBe(0);
    const report = JSON.parse(res.stdout);
    expect(report.runId).toMatch(/^backfill-/);
    expect(report.orphans).toEqual([]);
    expect(report.conflicts).toEqual([]);
    const detached = report.crossTenant.filter((c: { detached: number }) => c.detached > 0).map((c: { table: string; detached: number }) => [c.table, c.detached]);
    expect(detached).toEqual([
      ['deals', 2],
      ['activities', 1],
      ['quotes', 1],
    ]);
    const { rows } = await db().client.query(
      `SELECT (SELECT count(*)::int FROM crm.deals d JOIN crm.contacts c ON c.id = d.contact_id WHERE d.company_id <> c.company_id) AS deals,
              (SELECT count(*)::int FROM crm_state.backfill_changed_rows WHERE run_id = $1 AND kind = 'detach' AND old_value IS NOT NULL) AS recorded`,
      [report.runId],
    );
    expect(rows[0]).toEqual({ deals: 0, recorded: 4 });
    // Nothing left to detach: the next run reports none found.
    const again = await runBackfill({ databaseUrl: db().url, manifest, detachCrossTenant: true });
    expect(again.crossTenant.every((c) => c.found === 0)).toBe(true);
  });
});

// The whole story (the demo's steps, each the real command's core) on this run's server, numbers asserted.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadManifest } from '../../src/config/manifest.js';
import { runStory, type StoryResult } from '../../src/demo/story.js';
import { SAMPLE_MANIFEST } from '../../src/sample/sample-crm.js';
import { serverLabel, useTestDatabase } from '../support/database.js';

describe(`the rollout story on the sample CRM (${serverLabel()})`, () => {
  const db = useTestDatabase();
  let workDir: string;
  afterAll(async () => {
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('ends with every tenant column filled, RLS everywhere and isolation proven', async () => {
    workDir = await mkdtemp(path.join(os.tmpdir(), 'crmt-story-'));
    // Roles are cluster-wide: this run's own names, so parallel runs and other tests never collide.
    const app = await db().createRole('app');
    const support = await db().createRole('support');
    const sample = await loadManifest(SAMPLE_MANIFEST);
    const manifest = { ...sample, roles: { app: [app], bypass: [{ role: support, reason: 'support console' }] } };
    const result: StoryResult = await runStory({ databaseUrl: db().url, workDir, manifest });
    const byName = Object.fromEntries(result.steps.map((s) => [s.name, s]));
    const s = result.summary;

    // Before: the report's state, and the audit finds what the report claimed was not there.
    expect(s.tables).toBe(27);
    expect(byName.audit.exitCode).toBe(1);
    const foundBefore = (check: string) => result.auditBefore.findings.filter((f) => f.check === check);
    expect(foundBefore('missing-tenant-column').map((f) => f.table)).toEqual([
      'public.email_campaigns',
      'public.performance_alerts',
      'public.user_conversations',
    ]);
    expect(foundBefore('null-tenant').reduce((n, f) => n + (f.count ?? 0), 0)).toBe(18);
    expect(foundBefore('null-tenant').find((f) => f.table === 'public.phone_numbers')?.samples).toEqual([4]);
    expect(foundBefore('duplicate-within-tenant').map((f) => [f.table, f.count])).toEqual([['public.twilio_settings', 1]]);
    expect(foundBefore('cross-tenant-reference').map((f) => [f.table, f.count, f.samples])).toEqual([
      ['public.activities', 1, [40]],
      ['public.deals', 2, [50, 51]],
      ['public.quotes', 1, [2]],
    ]);
    expect(foundBefore('rls-disabled')).toHaveLength(28);
    expect(s.findingsBefore.error).toBe(47);
    expect(s.tablesWithTenantColumnBefore).toBe(24);
    expect(s.nullTenantsBefore).toBe(18);

    // The first migrate refuses to validate while NULLs, the duplicate and cross-company references remain.
    expect(byName['migrate up (first try)'].exitCode).toBe(1);
    const refusals = Object.fromEntries(s.migrateRefusals.map((r) => [`${r.table}:${r.problem}`, r.count]));
    expect(refusals).toMatchObject({
      'phone_numbers:null-tenant': 1,
      'twilio_settings:null-tenant': 1,
      'activities:null-tenant': 3,
      'documents:null-tenant': 2,
      'document_signatures:null-tenant': 2,
      'workflow_executions:null-tenant': 5,
      'notifications:null-tenant': 2,
      'bulk_email_campaigns:null-tenant': 2,
      'performance_alerts:null-tenant': 6,
      'email_campaigns:null-tenant': 4,
      'user_conversations:null-tenant': 10,
    });
    expect(s.migrateRefusals.filter((r) => r.problem === 'null-tenant').reduce((n, r) => n + r.count, 0)).toBe(38);

    // Backfill places every row (18 NULLs + 20 rows of the three new columns) and detaches the 4 leaks.
    expect(byName['backfill --detach-cross-tenant'].exitCode).toBe(0);
    expect(s.rowsBackfilled).toBe(38);
    expect(s.referencesDetached).toBe(4);
    expect(s.backfillRunId).toMatch(/^backfill-/);
    // Dedupe removes (and archives) the duplicate twilio_settings row and re-points its phone number.
    expect(byName.dedupe.exitCode).toBe(0);
    expect(s.rowsArchived).toBe(1);
    expect(s.rowsRepointed).toBe(1);

    // The second migrate completes.
    expect(byName['migrate up'].exitCode).toBe(0);
    expect(s.tablesWithTenantColumnAfter).toBe(27);
    expect(s.nullTenantsAfter).toBe(0);
    const { rows } = await db().client.query<{ nullable: number; unvalidated: number; single_fks: number }>(`
      SELECT (SELECT count(*)::int FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
               WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND a.attname = 'company_id' AND NOT a.attnotnull) AS nullable,
             (SELECT count(*)::int FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND NOT convalidated) AS unvalidated,
             (SELECT count(*)::int FROM pg_constraint con JOIN pg_class r ON r.oid = con.confrelid
               WHERE con.connamespace = 'public'::regnamespace AND con.contype = 'f' AND cardinality(con.conkey) = 1
                 AND r.relname <> 'companies'
                 AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = con.conrelid AND a.attname = 'company_id')
                 AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = con.confrelid AND a.attname = 'company_id')) AS single_fks`);
    expect(rows[0]).toEqual({ nullable: 0, unvalidated: 0, single_fks: 0 });

    // Row-level security on every scoped table and the tenant table; isolation proven as the app role.
    expect(byName['policies apply'].exitCode).toBe(0);
    expect(s.policyTablesApplied).toBe(28);
    expect(byName.verify.exitCode).toBe(0);
    expect(s.probesFailed).toBe(0);
    expect(s.probesPassed).toBeGreaterThanOrEqual(27 * 6);

    // And the audit is clean: no error, no warning, and no data scan needed (the catalog proves it).
    expect(byName['audit (after)'].exitCode).toBe(0);
    expect(s.findingsAfter).toMatchObject({ error: 0, warning: 0 });
    expect(result.auditAfter.summary.scannedTables).toBe(0);
    expect(result.auditAfter.findings.every((f) => f.severity === 'info')).toBe(true);
  });
});

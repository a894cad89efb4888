// The whole playbook on the SaaS fixture (uuid tenant key, soft deletes with partial keys, shared rows,
// polymorphic pairs, a partitioned event table without a primary key, views), through the real CLI:
// generate → migrate → backfill → dedupe → (the fixes only a person can make) → migrate → policies
// apply → verify → audit. Then, as the application role with one tenant set, no table shows another
// tenant's row and a polymorphic pointer at another tenant's row is refused.
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ident } from '../../src/db/quote.js';
import { loadSampleSaas, saasManifestText, SAAS_HAND_FIXES } from '../../src/sample/sample-saas.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';


describe('the playbook on the SaaS fixture', () => {
  const db = useTestDatabase();
  let dir: string;
  let app: string;
  const cli = (...args: string[]) =>
    runCli([...args, '--database-url', db().url, '--config', path.join(dir, 'tenancy.yaml')], { cwd: dir, timeoutMs: 300_000 });
  const sql = async (text: string, values: unknown[] = []) => (await db().client.query(text, values)).rows;

  beforeAll(async () => {
    await loadSampleSaas(db().client);
    app = await db().createRole('saas_app');
    dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-saas-playbook-'));
    await writeFile(path.join(dir, 'tenancy.yaml'), await saasManifestText({ appRole: app }));
    await sql(`GRANT USAGE ON SCHEMA public TO ${ident(app)}`);
    await sql(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${ident(app)}`);
  }, 120_000);

  it('runs end to end; refusals name what to do; the person fixes what only a person can', async () => {
    const steps: { step: string; code: number | null }[] = [];
    const run = async (step: string, ...args: string[]) => {
      const r = await cli(...args);
      steps.push({ step, code: r.code });
      return r;
    };
    expect((await run('generate', 'generate')).code).toBe(0);
    const first = await run('migrate (expand, index; validate refused)', 'migrate');
    expect(first.code, first.stderr).toBe(1);
    const backfill = await run('backfill', 'backfill', '--detach-cross-tenant', '--json');
    const filled = JSON.parse(backfill.stdout);
    // The audit log row of nobody is an orphan: nothing derives its tenant. It is reported, not guessed.
    expect(filled.orphans.map((o: { table: string }) => o.table)).toContain('audit_logs');
    const dedupe = await run('dedupe', 'dedupe', '--json');
    const deduped = JSON.parse(dedupe.stdout);
    expect(dedupe.code).toBe(1);
    // Two different invoices that share a number: reported as a conflict, never merged.
    expect(deduped.conflicts.map((c: { table: string }) => c.table)).toEqual(['invoices']);
    // The live CONSULT twice is one entity: merged; the soft-deleted SETUP twin is not a duplicate.
    expect(deduped.groups.map((g: { table: string; status: string }) => [g.table, g.status])).toEqual([['billing_codes', 'resolved']]);

    // What only a person can decide, as the refusals said (the same list the demo shows): all but the
    // last; the last one is the payment of A pointing at C's invoice through the polymorphic pair.
    for (const fix of SAAS_HAND_FIXES.slice(0, -1)) await sql(fix.sql);
    // migrate refuses it before changing anything, naming the pair; then the person re-points it.
    const third = await run('migrate (refused: polymorphic pair)', 'migrate');
    expect(third.code, third.stderr).toBe(1);
    expect(third.stderr).toMatch(/│ payments +│ whose payable_type\/payable_id points/);
    await sql(SAAS_HAND_FIXES[SAAS_HAND_FIXES.length - 1].sql);
    const second = await run('migrate (validate, composite, views)', 'migrate');
    expect(second.code, second.stderr).toBe(0);
    const policies = await run('policies apply', 'policies', 'apply');
    expect(policies.code, policies.stderr).toBe(0);
    const verify = await run('verify', 'verify', '--json');
    const proof = JSON.parse(verify.stdout);
    expect(proof.failures, JSON.stringify(proof.failures, null, 1)).toEqual([]);
    expect(proof.unprobed, JSON.stringify(proof.unprobed, null, 1)).toEqual([]);
    expect(verify.code).toBe(0);
    const audit = await run('audit', 'audit', '--json');
    const report = JSON.parse(audit.stdout);
    expect(report.findings.filter((f: { severity: string }) => f.severity === 'error'), audit.stdout.slice(0, 4000)).toEqual([]);
    expect(audit.code).toBe(0);
  }, 600_000);

  it('as the application role with one tenant set, no table shows another tenant, and a polymorphic pointer across tenants is refused', async () => {
    const c = await db().connect();
    const orgA = (await sql(`SELECT md5('org-0-1')::uuid AS id`))[0].id;
    const tables = await sql(
      `SELECT format('%I', c.relname) AS t FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND a.attname = 'organization_id' AND NOT a.attisdropped`,
    );
    expect(tables.length).toBeGreaterThan(90);
    await c.query('BEGIN');
    try {
      await c.query(`SET LOCAL ROLE ${ident(app)}`);
      await c.query(`SELECT set_config('app.current_organization_id', $1, true)`, [orgA]);
      for (const { t } of tables) {
        const { rows } = await c.query(`SELECT count(*)::int AS n FROM public.${t} WHERE organization_id IS DISTINCT FROM $1 AND organization_id IS NOT NULL`, [orgA]);
        expect({ table: t, other: rows[0].n }).toEqual({ table: t, other: 0 });
      }
      const otherInvoice = (await sql(`SELECT md5('inv-0-3-1')::uuid AS id`))[0].id;
      await expect(
        c.query(`INSERT INTO payments (id, organization_id, payable_type, payable_id, amount_cents) VALUES (gen_random_uuid(), $1, 'Invoice', $2, 1)`, [orgA, otherInvoice]),
      ).rejects.toMatchObject({ code: '23503' });
    } finally {
      await c.query('ROLLBACK');
    }
  });
});

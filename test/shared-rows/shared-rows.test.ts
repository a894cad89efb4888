// shared_rows (#13.2): the generated policies, the audit, backfill, policies apply's preflight and verify's shared-rows probe, two-sided.
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runAudit } from '../../src/audit/runner.js';
import { buildBackfillPlan } from '../../src/backfill/backfill-plan.js';
import { resolveLiveContext } from '../../src/config/live-context.js';
import type { Manifest } from '../../src/config/manifest.js';
import { ident } from '../../src/db/quote.js';
import { applyPolicies } from '../../src/policies/apply.js';
import { writePolicyFiles } from '../../src/policies/policy-files.js';
import { verifyIsolation } from '../../src/verify/verify.js';
import { useTestDatabase } from '../support/database.js';
import { writeManifest } from '../verify/fixture.js';

const ORG = `(SELECT nullif(current_setting('app.org', true), '')::integer)`;

describe('shared_rows', () => {
  const db = useTestDatabase();
  let app: string;
  let dir: string;
  let manifest: Manifest;
  const raw = (templates: Record<string, unknown> | null = { shared_rows: true }) => ({
    schema: 'public',
    tenant: { table: 'orgs', key: 'id', column: 'org_id', setting: 'app.org' },
    roles: { app: [app] },
    tables: { templates, notes: null },
  });
  const apply = async (m: Manifest) => {
    const policiesDir = path.join(dir, 'policies');
    await writePolicyFiles({ live: await resolveLiveContext(db().client, m), dir: policiesDir });
    return applyPolicies({ client: db().client, manifest: m, policiesDir });
  };
  const audit = (m: Manifest, only: string[]) => runAudit({ client: db().client, manifest: m, only });
  const sharedProbe = async (m: Manifest) => (await verifyIsolation({ client: db().client, manifest: m })).probes.filter((p) => p.probe === 'shared-rows');

  beforeAll(async () => {
    const c = db().client;
    app = await db().createRole('shared_app');
    await c.query(`
      CREATE TABLE orgs (id integer PRIMARY KEY, name text NOT NULL);
      INSERT INTO orgs VALUES (1, 'one'), (2, 'two');
      CREATE TABLE templates (id serial PRIMARY KEY, org_id integer REFERENCES orgs, key text NOT NULL, body text NOT NULL,
                              UNIQUE (org_id, key));
      CREATE INDEX ON templates (org_id);
      INSERT INTO templates (org_id, key, body) VALUES (NULL, 'welcome', 'Hi'), (NULL, 'bye', 'Bye'), (1, 'welcome', 'Hello one'), (2, 'welcome', 'Hello two'), (2, 'x', 'x');
      CREATE TABLE notes (id serial PRIMARY KEY, org_id integer NOT NULL REFERENCES orgs, body text NOT NULL);
      CREATE INDEX ON notes (org_id);
      INSERT INTO notes (org_id, body) VALUES (1, 'a'), (2, 'b'), (2, 'c');
    `);
    dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-shared-'));
    manifest = await writeManifest(path.join(dir, 'tenancy.yaml'), raw());
  });

  it('policies apply accepts the nullable tenant column of a shared_rows table, and refuses it on any other table', async () => {
    const plain = await writeManifest(path.join(dir, 'plain.yaml'), raw(null));
    const refused = await apply(plain);
    expect(refused.ok).toBe(false);
    expect(refused.preflight.map((r) => [r.table, r.problem])).toEqual([['templates', 'nullable-tenant-column']]);
    const applied = await apply(manifest);
    expect(applied.preflight).toEqual([]);
    expect(applied.refusals).toEqual([]);
    expect(applied.ok).toBe(true);
    const { rows } = await db().client.query(
      `SELECT polname, polcmd FROM pg_policy WHERE polrelid = 'templates'::regclass ORDER BY polname`,
    );
    expect(rows).toEqual([
      { polname: 'tenant_isolation_delete', polcmd: 'd' },
      { polname: 'tenant_isolation_insert', polcmd: 'a' },
      { polname: 'tenant_isolation_select', polcmd: 'r' },
      { polname: 'tenant_isolation_update', polcmd: 'w' },
    ]);
  });

  it('as the app role: reads the shared rows, cannot change, delete or create one; its own rows work as before', async () => {
    const c = db().client;
    await c.query('BEGIN');
    try {
      await c.query(`SET LOCAL ROLE ${ident(app)}`);
      await c.query(`SELECT set_config('app.org', '1', true)`);
      const seen = await c.query(`SELECT key, org_id FROM templates ORDER BY org_id NULLS FIRST, key`);
      expect(seen.rows).toEqual([
        { key: 'bye', org_id: null },
        { key: 'welcome', org_id: null },
        { key: 'welcome', org_id: 1 },
      ]);
      expect((await c.query(`UPDATE templates SET body = 'mine', org_id = 1 WHERE org_id IS NULL`)).rowCount).toBe(0);
      expect((await c.query(`DELETE FROM templates WHERE org_id IS NULL`)).rowCount).toBe(0);
      expect((await c.query(`UPDATE templates SET body = 'own' WHERE org_id = 1`)).rowCount).toBe(1);
      await c.query('SAVEPOINT s');
      await expect(c.query(`INSERT INTO templates (org_id, key, body) VALUES (NULL, 'new', 'n')`)).rejects.toThrow(/row-level security/);
      await c.query('ROLLBACK TO SAVEPOINT s');
    } finally {
      await c.query('ROLLBACK');
    }
  });

  it('verify: the shared-rows probe passes on the generated policies, and the read probes expect the shared rows', async () => {
    const result = await verifyIsolation({ client: db().client, manifest });
    const shared = result.probes.filter((p) => p.probe === 'shared-rows');
    expect(shared.map((p) => [p.table, p.status])).toEqual([['templates', 'pass']]);
    expect(shared[0].detail).toMatch(/reading a shared row: visible.*taking over.*0 rows affected.*deleting.*0 rows affected.*creating.*rejected by row-level security/);
    const onTemplates = result.probes.filter((p) => p.table === 'templates');
    expect(onTemplates.filter((p) => p.status === 'fail' || p.status === 'error')).toEqual([]);
    expect(onTemplates.find((p) => p.probe === 'select-own')!.detail).toContain('2 shared one(s)');
    expect(result.failures).toEqual([]);
    expect(result.ok).toBe(true);
  });

  it('verify makes a shared row inside its rolled-back transaction when the table has none', async () => {
    const c = db().client;
    await c.query(`CREATE TEMP TABLE kept AS SELECT * FROM templates WHERE org_id IS NULL`);
    await c.query(`DELETE FROM templates WHERE org_id IS NULL`);
    try {
      const shared = await sharedProbe(manifest);
      expect(shared.map((p) => p.status)).toEqual(['pass']);
      expect(shared[0].detail).toContain('a shared row made for the probe');
      expect((await c.query(`SELECT count(*)::int AS n FROM templates WHERE org_id IS NULL`)).rows[0].n).toBe(0);
    } finally {
      await c.query(`INSERT INTO templates SELECT * FROM kept`);
      await c.query(`DROP TABLE kept`);
    }
  });

  it('one FOR ALL policy with the OR lets a tenant take over and delete shared rows: the probe and permissive-policy-bypass find it; reapplied, both are clean', async () => {
    const c = db().client;
    await c.query(`
      DROP POLICY tenant_isolation_select ON templates; DROP POLICY tenant_isolation_insert ON templates;
      DROP POLICY tenant_isolation_update ON templates; DROP POLICY tenant_isolation_delete ON templates;
      CREATE POLICY tenant_isolation ON templates FOR ALL TO ${ident(app)} USING (org_id = ${ORG} OR org_id IS NULL) WITH CHECK (org_id = ${ORG});
    `);
    const broken = await sharedProbe(manifest);
    expect(broken.map((p) => [p.table, p.status])).toEqual([['templates', 'fail']]);
    expect(broken[0].detail).toMatch(/taking over a shared row.*(1 row\(s\) changed|reached the row: duplicate key[^;]*); .*deleting a shared row.*1 row\(s\) deleted/);
    const flagged = await audit(manifest, ['permissive-policy-bypass', 'policy-not-tenant-scoped']);
    expect(flagged.findings.map((f) => [f.check, f.table, f.samples])).toEqual([
      ['permissive-policy-bypass', 'public.templates', ['UPDATE', 'DELETE']],
    ]);

    expect((await apply(manifest)).ok).toBe(true);
    expect((await sharedProbe(manifest)).map((p) => p.status)).toEqual(['pass']);
    expect((await audit(manifest, ['permissive-policy-bypass', 'policy-not-tenant-scoped'])).findings).toEqual([]);
  });

  it('OR tenant IS NULL on a table that is not shared_rows is still a finding', async () => {
    const c = db().client;
    await c.query(`CREATE POLICY widened ON notes FOR SELECT TO ${ident(app)} USING (org_id = ${ORG} OR org_id IS NULL)`);
    try {
      const found = await audit(manifest, ['permissive-policy-bypass']);
      expect(found.findings.map((f) => [f.check, f.table, f.object, f.samples])).toEqual([['permissive-policy-bypass', 'public.notes', 'widened', ['SELECT']]]);
    } finally {
      await c.query(`DROP POLICY widened ON notes`);
    }
    expect((await audit(manifest, ['permissive-policy-bypass'])).findings).toEqual([]);
  });

  it('null-tenant and nullable-tenant-column leave the shared rows alone; without shared_rows they are reported', async () => {
    const checks = ['null-tenant', 'nullable-tenant-column'];
    const shared = await audit(manifest, checks);
    expect(shared.findings).toEqual([]);
    expect(shared.proofs.find((p) => p.check === 'null-tenant' && p.table === 'templates')!.proof).toMatch(/shared_rows/);
    const plain = await writeManifest(path.join(dir, 'plain.yaml'), raw(null));
    const found = await audit(plain, checks);
    expect(found.findings.map((f) => [f.check, f.table, f.count])).toEqual([
      ['nullable-tenant-column', 'public.templates', null],
      ['null-tenant', 'public.templates', 2],
    ]);
  });

  it('backfill leaves a shared_rows table alone (skipped, with the reason); without shared_rows it is planned', async () => {
    const c = db().client;
    const plan = buildBackfillPlan(await resolveLiveContext(c, manifest));
    expect(plan.skippedTables).toEqual([{ table: 'templates', reason: expect.stringContaining('shared_rows') }]);
    expect(plan.groups.flatMap((g) => g.tables.map((t) => t.table))).toEqual(['notes']);
    const plain = await writeManifest(path.join(dir, 'plain.yaml'), raw(null));
    const planned = buildBackfillPlan(await resolveLiveContext(c, plain));
    expect(planned.skippedTables).toEqual([]);
    expect(planned.groups.flatMap((g) => g.tables.map((t) => t.table)).sort()).toEqual(['notes', 'templates']);
  });
});

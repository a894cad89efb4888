// A foreign key into a shared_rows table (memberships.role_id → roles, whose predefined rows have a
// NULL tenant) cannot become a composite (tenant, id) key; with composite_keys, generate guards it with
// a constraint trigger: a row may reference a shared row or its own tenant's, never another tenant's
// own row. Two-sided on real PostgreSQL: verify's cross-tenant-reference probe fails before and passes
// after; migrate refuses while such a row exists; down removes the guard and the hole is back.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runAudit } from '../../src/audit/runner.js';
import { resolveLiveContext } from '../../src/config/live-context.js';
import type { Manifest } from '../../src/config/manifest.js';
import { ident } from '../../src/db/quote.js';
import { readPlanExtras } from '../../src/migrate/plan-extras.js';
import { planTenancy, stepId } from '../../src/migrate/plan.js';
import { renderMigrations } from '../../src/migrate/render.js';
import { applyPolicies } from '../../src/policies/apply.js';
import { writePolicyFiles } from '../../src/policies/policy-files.js';
import { verifyIsolation } from '../../src/verify/verify.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { writeManifest } from '../verify/fixture.js';

describe('references into a shared_rows table', () => {
  const db = useTestDatabase();
  let app: string;
  let dir: string;
  let manifest: Manifest;
  const q = async (sql: string) => (await db().client.query(sql)).rows;
  const raw = (compositeKeys: boolean) => ({
    schema: 'public',
    tenant: { table: 'orgs', key: 'id', column: 'org_id', setting: 'app.org', composite_keys: compositeKeys },
    roles: { app: [app] },
    tables: { roles: { shared_rows: true }, memberships: null },
  });
  const fkFindings = async () =>
    (await runAudit({ client: db().client, manifest, only: ['fk-not-tenant-scoped'] })).findings.map((f) => [f.table, f.samples]);
  const probe = async () =>
    (await verifyIsolation({ client: db().client, manifest })).probes.filter((p) => p.table === 'memberships' && p.probe === 'cross-tenant-reference');
  /** Tenant 1's membership pointed at tenant 2's own role (3), as the superuser: accepted or refused (23503). */
  const crossAccepted = async () => {
    await q('BEGIN');
    try {
      await q(`INSERT INTO memberships VALUES (99, 1, 3)`);
      return true;
    } catch (e) {
      if ((e as { code?: string }).code !== '23503') throw e;
      expect((e as Error).message).toBe("public.memberships.role_id -> public.roles: 3 is neither a shared row nor a row of the row's own tenant");
      return false;
    } finally {
      await q('ROLLBACK');
    }
  };

  beforeAll(async () => {
    app = await db().createRole('shref_app');
    await q(`
      CREATE TABLE orgs (id integer PRIMARY KEY);
      INSERT INTO orgs VALUES (1), (2);
      CREATE TABLE roles (id integer PRIMARY KEY, org_id integer REFERENCES orgs, name text NOT NULL);
      CREATE INDEX ON roles (org_id);
      INSERT INTO roles VALUES (1, NULL, 'owner'), (2, 1, 'custom one'), (3, 2, 'custom two');
      CREATE TABLE memberships (id integer PRIMARY KEY, org_id integer NOT NULL REFERENCES orgs, role_id integer NOT NULL REFERENCES roles);
      CREATE INDEX ON memberships (org_id);
      INSERT INTO memberships VALUES (1, 1, 1), (2, 1, 2), (3, 2, 1), (4, 2, 3);
      GRANT SELECT, INSERT, UPDATE, DELETE ON orgs, roles, memberships TO ${ident(app)};`);
    dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-shared-ref-'));
    manifest = await writeManifest(path.join(dir, 'tenancy.yaml'), raw(true));
    const policiesDir = path.join(dir, 'policies');
    await writePolicyFiles({ live: await resolveLiveContext(db().client, manifest), dir: policiesDir });
    expect((await applyPolicies({ client: db().client, manifest, policiesDir })).ok).toBe(true);
  });

  it('is planned with composite_keys (the key stays single-column), not without', async () => {
    const plan = async (compositeKeys: boolean) => {
      const live = await resolveLiveContext(db().client, await writeManifest(path.join(dir, `plan-${compositeKeys}.yaml`), raw(compositeKeys)));
      return planTenancy(live, new Set(), await readPlanExtras(db().client, live)).steps.map(stepId);
    };
    const withKeys = await plan(true);
    expect(withKeys).toContain('shared-ref:memberships:role_id');
    expect(withKeys.filter((s) => s.startsWith('composite-fk'))).toEqual([]);
    expect((await plan(false)).filter((s) => s.startsWith('shared-ref'))).toEqual([]);
  });

  it("before: verify fails (composite_keys is on); migrate refuses while a row points at another tenant's role; after: rejected, verify passes; down: the hole is back", async () => {
    expect(await crossAccepted()).toBe(true);
    const before = await probe();
    expect(before.map((p) => p.status)).toEqual(['fail']);
    expect(before[0].detail).toContain("own row of a shared_rows table through memberships_role_id_fkey (composite_keys is on: the generated shared-rows reference trigger must reject it");
    expect(await fkFindings()).toEqual([['public.memberships', ['memberships_role_id_fkey']]]);

    const live = await resolveLiveContext(db().client, manifest);
    const files = renderMigrations(live, planTenancy(live, new Set(), await readPlanExtras(db().client, live)).steps, { firstIndex: 1 });
    const migrations = path.join(dir, 'migrations');
    await mkdir(migrations);
    for (const f of files) await writeFile(path.join(migrations, f.fileName), f.text);
    const text = files.map((f) => f.text).join('\n');
    expect(text).toContain('CREATE CONSTRAINT TRIGGER "memberships_role_id_shared_ref_trigger" AFTER INSERT OR UPDATE OF "role_id", "org_id" ON "public"."memberships"');
    expect(text).toContain('-- Lock: SHARE ROW EXCLUSIVE on public.memberships for an instant');
    const migrate = () => runCli(['migrate', '--config', manifest.file!, '--database-url', db().url, '--migrations-dir', migrations, '--json']);

    // Membership 4 of tenant 2 uses tenant 2's role: fine. Planted: tenant 1's membership on it.
    await q(`UPDATE memberships SET role_id = 3 WHERE id = 2`);
    const refused = await migrate();
    expect(refused.code, refused.stderr).toBe(1);
    expect(JSON.parse(refused.stdout).refused.map((r: { table: string; problem: string; count: number }) => [r.table, r.problem, r.count])).toEqual([
      ['memberships', 'cross-tenant', 1],
    ]);
    await q(`UPDATE memberships SET role_id = 2 WHERE id = 2`);
    const done = await migrate();
    expect(done.code, done.stdout + done.stderr).toBe(0);

    expect(await crossAccepted()).toBe(false);
    // A shared role and the tenant's own role stay allowed, for either tenant.
    await q(`BEGIN; INSERT INTO memberships VALUES (97, 2, 1), (98, 2, 3); UPDATE memberships SET role_id = 1 WHERE id = 2; ROLLBACK`);
    const after = await probe();
    expect(after.map((p) => [p.status, p.detail])).toEqual([['pass', 'rejected by memberships_role_id_fkey']]);
    expect(await fkFindings()).toEqual([]);
    // A disabled guard guards nothing: the audit says so again.
    await q(`ALTER TABLE memberships DISABLE TRIGGER memberships_role_id_shared_ref_trigger`);
    expect(await fkFindings()).toEqual([['public.memberships', ['memberships_role_id_fkey']]]);
    expect(await crossAccepted()).toBe(true);
    await q(`ALTER TABLE memberships ENABLE TRIGGER memberships_role_id_shared_ref_trigger`);

    const down = await runCli(['migrate', 'down', '--count', String(files.filter((f) => f.phase === 'composite').length), '--force',
      '--config', manifest.file!, '--database-url', db().url, '--migrations-dir', migrations]);
    expect(down.code, down.stderr).toBe(0);
    expect(await crossAccepted()).toBe(true);
    expect((await probe()).map((p) => p.status)).toEqual(['fail']);
    expect(await fkFindings()).toEqual([['public.memberships', ['memberships_role_id_fkey']]]);
  }, 120_000);

  it('without composite_keys the reference is reported, as every single-column key is', async () => {
    manifest = await writeManifest(path.join(dir, 'plain.yaml'), raw(false));
    const reported = await probe();
    expect(reported.map((p) => p.status)).toEqual(['reported']);
  });
});

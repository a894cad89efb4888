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
import type { SharedRefStep } from '../../src/migrate/plan-shared-refs.js';
import { renderMigrations } from '../../src/migrate/render.js';
import { renderSharedRef } from '../../src/migrate/render-shared-refs.js';
import { applyPolicies } from '../../src/policies/apply.js';
import { writePolicyFiles } from '../../src/policies/policy-files.js';
import { verifyIsolation } from '../../src/verify/verify.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { sharedRolesSql } from './fixture.js';
import { refusal as refusalOf } from '../support/refusal.js';
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

  const GUARD_OBJECTS = [
    'function memberships_role_id_shared_ref_check',
    'function memberships_role_id_shared_ref_parent_check',
    'trigger memberships.memberships_role_id_shared_ref_trigger',
    'trigger roles.memberships_role_id_shared_ref_parent_trigger',
  ];
  /** The guard's triggers and functions that exist. */
  const guardObjects = async () =>
    (
      await q(`SELECT 'trigger ' || tgrelid::regclass || '.' || tgname AS o FROM pg_trigger WHERE tgname LIKE 'memberships_role_id_shared_ref%'
               UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE proname LIKE 'memberships_role_id_shared_ref%' ORDER BY 1`)
    ).map((r) => r.o as string);
  const refusal = (sql: string) => refusalOf(db().client, sql);
  const MOVED = (key: number, tenant: number) =>
    `public.memberships.role_id -> public.roles (memberships_role_id_fkey): row ${key}, now of tenant ${tenant}, is referenced by rows of another tenant; it can only be shared (NULL tenant) or theirs`;
  const ISOLATED = (key: number, tenant: number, level: string) =>
    `public.memberships.role_id -> public.roles (memberships_role_id_fkey): cannot give row ${key} the tenant ${tenant} in a ${level} transaction (a concurrent transaction's new reference to it would go unseen); run it under READ COMMITTED`;
  /**
   * Roles 1 (shared, used by both tenants), 2 (tenant 1's, used by tenant 1), 3 (tenant 2's, used by
   * tenant 2): with the parent-side trigger, giving a used role to a tenant other than its users' is
   * refused; without it (guarded = false) accepted. Shared again, a move no other tenant's row sees,
   * and an update leaving tenant and key alone: accepted either way.
   */
  const parentSide = async (guarded: boolean) => {
    expect(await refusal(`UPDATE roles SET org_id = 1 WHERE id = 1`)).toBe(guarded ? MOVED(1, 1) : null);
    expect(await refusal(`UPDATE roles SET org_id = 2 WHERE id = 1`)).toBe(guarded ? MOVED(1, 2) : null);
    expect(await refusal(`UPDATE roles SET org_id = 2 WHERE id = 2`)).toBe(guarded ? MOVED(2, 2) : null);
    expect(await refusal(`UPDATE roles SET org_id = NULL WHERE id IN (2, 3)`)).toBeNull();
    expect(await refusal(`UPDATE roles SET org_id = NULL WHERE id = 3; UPDATE roles SET org_id = 2 WHERE id = 3`)).toBeNull();
    expect(await refusal(`INSERT INTO roles VALUES (4, 1, 'unused'); UPDATE roles SET org_id = 2 WHERE id = 4; UPDATE roles SET id = 40 WHERE id = 4`)).toBeNull();
    expect(await refusal(`UPDATE roles SET org_id = org_id, id = id, name = name || '!'`)).toBeNull();
    // Under REPEATABLE READ or SERIALIZABLE the check would read the transaction's older snapshot (a
    // concurrent new membership, waited for, would stay unseen): a change that needs it is refused
    // there, even of a role no one uses; sharing again, and changes of neither tenant nor key, are not.
    for (const level of ['REPEATABLE READ', 'SERIALIZABLE']) {
      const isolated = (sql: string) => refusal(`SET TRANSACTION ISOLATION LEVEL ${level}; ${sql}`);
      expect(await isolated(`INSERT INTO roles VALUES (4, NULL, 'unused'); UPDATE roles SET org_id = 2 WHERE id = 4`)).toBe(
        guarded ? ISOLATED(4, 2, level) : null,
      );
      expect(await isolated(`INSERT INTO roles VALUES (4, 1, 'unused'); UPDATE roles SET id = 40 WHERE id = 4`)).toBe(guarded ? ISOLATED(40, 1, level) : null);
      expect(await isolated(`UPDATE roles SET org_id = NULL WHERE id IN (2, 3)`)).toBeNull();
      expect(await isolated(`UPDATE roles SET name = name || '!'`)).toBeNull();
    }
    // Under row-level security the other tenants' memberships are hidden: a change that needs the
    // check is refused rather than checked blind (a role bypassing RLS, as above, is checked).
    const underRls = await refusal(
      `INSERT INTO roles VALUES (4, 1, 'unused'); SET LOCAL ROLE ${ident(app)}; SELECT set_config('app.org', '1', true); UPDATE roles SET id = 40 WHERE id = 4`,
    );
    if (guarded) expect(underRls).toMatch(/^public\.memberships\.role_id -> public\.roles \(memberships_role_id_fkey\): cannot give row 40 the tenant 1 under row-level security/);
    else expect(underRls).toBeNull();
    expect(await refusal(`SET LOCAL ROLE ${ident(app)}; SELECT set_config('app.org', '1', true); UPDATE roles SET name = name || '!' WHERE id = 2`)).toBeNull();
  };

  beforeAll(async () => {
    app = await db().createRole('shref_app');
    await q(sharedRolesSql(app));
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
    // Nor does one enabled for replication sessions only, or one whose function is not migrate's.
    await q(`ALTER TABLE memberships ENABLE REPLICA TRIGGER memberships_role_id_shared_ref_trigger`);
    expect(await fkFindings()).toEqual([['public.memberships', ['memberships_role_id_fkey']]]);
    await q(`ALTER TABLE memberships ENABLE TRIGGER memberships_role_id_shared_ref_trigger`);
    expect(await fkFindings()).toEqual([]);
    const [{ src }] = await q(`SELECT prosrc AS src FROM pg_proc WHERE proname = 'memberships_role_id_shared_ref_check'`);
    await q(`CREATE OR REPLACE FUNCTION public.memberships_role_id_shared_ref_check() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$`);
    expect(await fkFindings()).toEqual([['public.memberships', ['memberships_role_id_fkey']]]);
    await q(`CREATE OR REPLACE FUNCTION public.memberships_role_id_shared_ref_check() RETURNS trigger LANGUAGE plpgsql AS $fn$${src}$fn$`);
    expect(await fkFindings()).toEqual([]);

    // The parent side: a referenced role's tenant (or key) changed under its memberships.
    expect(text).toContain('CREATE CONSTRAINT TRIGGER "memberships_role_id_shared_ref_parent_trigger" AFTER UPDATE OF "org_id", "id" ON "public"."roles"');
    expect(text).toContain('-- Lock: SHARE ROW EXCLUSIVE on public.roles for an instant');
    await parentSide(true);
    // A database migrated before the parent-side trigger existed: generate plans the step again, the
    // audit does not take the child's trigger alone, and migrating the new file closes it.
    await q(`DROP TRIGGER memberships_role_id_shared_ref_parent_trigger ON roles; DROP FUNCTION memberships_role_id_shared_ref_parent_check()`);
    await parentSide(false);
    expect(await fkFindings()).toEqual([['public.memberships', ['memberships_role_id_fkey']]]);
    const replanned = planTenancy(live, new Set(), await readPlanExtras(db().client, live)).steps;
    expect(replanned.map(stepId)).toContain('shared-ref:memberships:role_id');
    const again = renderMigrations(live, replanned.filter((x) => x.kind === 'shared-ref'), { firstIndex: files.length + 1 });
    expect(again.flatMap((f) => f.meta.provides)).toEqual(['shared-ref:memberships:role_id']);
    for (const f of again) await writeFile(path.join(migrations, f.fileName), f.text);
    const regenerated = await migrate();
    expect(regenerated.code, regenerated.stdout + regenerated.stderr).toBe(0);
    await parentSide(true);
    expect(await fkFindings()).toEqual([]);
    expect(planTenancy(live, new Set(), await readPlanExtras(db().client, live)).steps.map(stepId)).not.toContain('shared-ref:memberships:role_id');
    // A database migrated before the parent's function refused REPEATABLE READ updaters: the audit does
    // not take its older body, generate plans the step again, and the step brings the current body.
    const [{ psrc }] = await q(`SELECT prosrc AS psrc FROM pg_proc WHERE proname = 'memberships_role_id_shared_ref_parent_check'`);
    const older = (psrc as string).replace(/\n {2}IF pg_catalog\.current_setting\('transaction_isolation'\)[\s\S]*?\n {2}END IF;/, '');
    expect(older.length).toBeLessThan((psrc as string).length);
    await q(
      `CREATE OR REPLACE FUNCTION public.memberships_role_id_shared_ref_parent_check() RETURNS trigger LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $fn$${older}$fn$`,
    );
    expect(await fkFindings()).toEqual([['public.memberships', ['memberships_role_id_fkey']]]);
    // (the older body checks a REPEATABLE READ updater against its snapshot, and lets this one through)
    expect(await refusal(`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; INSERT INTO roles VALUES (4, NULL, 'unused'); UPDATE roles SET org_id = 2 WHERE id = 4`)).toBeNull();
    const stale = planTenancy(live, new Set(), await readPlanExtras(db().client, live)).steps.find((x) => stepId(x) === 'shared-ref:memberships:role_id');
    expect(stale).toBeDefined();
    await q(renderSharedRef(live, stale as SharedRefStep).up.join('\n'));
    await parentSide(true);
    expect(await fkFindings()).toEqual([]);
    expect(planTenancy(live, new Set(), await readPlanExtras(db().client, live)).steps.map(stepId)).not.toContain('shared-ref:memberships:role_id');
    // Rerunnable: the step's up SQL again, over both triggers already there, changes nothing and fails nothing.
    const step = planTenancy(live, new Set(), undefined).steps.find((x) => stepId(x) === 'shared-ref:memberships:role_id')!;
    const upSql = renderSharedRef(live, step as SharedRefStep).up.join('\n');
    await q(upSql);
    await q(upSql);
    await parentSide(true);
    expect(await guardObjects()).toEqual(GUARD_OBJECTS);

    const down = await runCli(['migrate', 'down', '--count', String(files.filter((f) => f.phase === 'composite').length + again.length), '--force',
      '--config', manifest.file!, '--database-url', db().url, '--migrations-dir', migrations]);
    expect(down.code, down.stderr).toBe(0);
    expect(await guardObjects()).toEqual([]);
    expect(await crossAccepted()).toBe(true);
    await parentSide(false);
    expect((await probe()).map((p) => p.status)).toEqual(['fail']);
    expect(await fkFindings()).toEqual([['public.memberships', ['memberships_role_id_fkey']]]);
  }, 120_000);

  it('without composite_keys the reference is reported, as every single-column key is', async () => {
    manifest = await writeManifest(path.join(dir, 'plain.yaml'), raw(false));
    const reported = await probe();
    expect(reported.map((p) => p.status)).toEqual(['reported']);
  });
});

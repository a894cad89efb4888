// cross-tenant-reference takes the guard trigger of a foreign key into a shared_rows table (installed
// by the real migrate, composite_keys) as proof, asked at run time like a polymorphic pair's trigger:
// enabled and calling migrate's function, the FK is not scanned (a row planted while the trigger was
// off stays hidden); disabled, replica-only, dropped, or its function replaced, the FK is scanned and
// the planted rows are found with their count; the same for the parent-side trigger (on roles), without
// which a shared role given to a tenant makes other tenants' memberships cross-tenant; --deep scans it
// regardless; --since agrees with a full audit.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { runAudit } from '../../src/audit/runner.js';
import type { AuditResult } from '../../src/audit/types.js';
import type { PreviousAudit } from '../../src/audit/incremental/types.js';
import { resolveLiveContext } from '../../src/config/live-context.js';
import type { Manifest } from '../../src/config/manifest.js';
import { readPlanExtras } from '../../src/migrate/plan-extras.js';
import { planTenancy } from '../../src/migrate/plan.js';
import { renderMigrations } from '../../src/migrate/render.js';
import { renderAudit } from '../../src/report/render-audit.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { sharedRolesSql } from './fixture.js';
import { asPrevious } from '../incremental/fixture.js';
import { writeManifest } from '../verify/fixture.js';

const TRIGGER = 'memberships_role_id_shared_ref_trigger';
const PARENT_TRIGGER = 'memberships_role_id_shared_ref_parent_trigger';
const PROOF = `enforced by triggers ${TRIGGER} and ${PARENT_TRIGGER}`;
const DATA_CHECKS = ['null-tenant', 'cross-tenant-reference', 'duplicate-within-tenant', 'unknown-tenant'];

describe('cross-tenant-reference: the shared-ref trigger as proof', () => {
  const db = useTestDatabase();
  let manifest: Manifest;
  const q = async (sql: string) => (await db().client.query(sql)).rows;
  const audit = (options: { deep?: boolean; since?: PreviousAudit } = {}) =>
    runAudit({ databaseUrl: db().url, manifest, only: DATA_CHECKS, concurrency: 2, ...options });
  const cross = (r: AuditResult) =>
    r.findings.filter((f) => f.check === 'cross-tenant-reference').map((f) => [f.object, f.count, [...f.samples].sort()]);
  const roleProof = (r: AuditResult) => r.proofs.find((p) => p.check === 'cross-tenant-reference' && p.object === 'memberships_role_id_fkey');
  /** Tenant 1's memberships 50 and 51 on tenant 2's own role 3, written while the guard is off (the superuser; the trigger rejects them otherwise). */
  const plant = async () => {
    await q(`ALTER TABLE memberships DISABLE TRIGGER ${TRIGGER}`);
    await q(`INSERT INTO memberships VALUES (50, 1, 3, NULL), (51, 1, 3, NULL)`);
    await q(`ALTER TABLE memberships ENABLE TRIGGER ${TRIGGER}`);
  };
  const ROLE_FINDING = ['memberships_role_id_fkey', 2, [50, 51]];
  const INVITER_FINDING = ['memberships_inviter_id_fkey', 1, [4]];

  beforeAll(async () => {
    const app = await db().createRole('shproof_app');
    await q(sharedRolesSql(app));
    const dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-shared-proof-'));
    manifest = await writeManifest(path.join(dir, 'tenancy.yaml'), {
      schema: 'public',
      tenant: { table: 'orgs', key: 'id', column: 'org_id', setting: 'app.org', composite_keys: true },
      roles: { app: [app] },
      tables: { roles: { shared_rows: true }, memberships: null },
    });
    // Before migrate: no trigger, the FK is scanned.
    expect(roleProof(await audit())).toEqual({ check: 'cross-tenant-reference', table: 'memberships', object: 'memberships_role_id_fkey', status: 'scanned' });
    const live = await resolveLiveContext(db().client, manifest);
    const files = renderMigrations(live, planTenancy(live, new Set(), await readPlanExtras(db().client, live)).steps, { firstIndex: 1 });
    expect(files.map((f) => f.text).join('\n')).toContain(`CREATE CONSTRAINT TRIGGER "${TRIGGER}"`);
    const migrations = path.join(dir, 'migrations');
    await mkdir(migrations);
    for (const f of files) await writeFile(path.join(migrations, f.fileName), f.text);
    const done = await runCli(['migrate', '--config', manifest.file!, '--database-url', db().url, '--migrations-dir', migrations, '--json']);
    expect(done.code, done.stdout + done.stderr).toBe(0);
    // A second FK of the same child, added after migrate (single-column, into a plain scoped table):
    // scanned in the same query as role_id would be. Membership 4 (tenant 2) invited by tenant 1's membership 1.
    await q(`ALTER TABLE memberships ADD COLUMN inviter_id integer REFERENCES memberships (id);
      UPDATE memberships SET inviter_id = 1 WHERE id IN (2, 4)`);
    await plant();
  }, 120_000);

  it('enabled, as migrate made it: proven, not scanned (the planted rows stay hidden); the other FK of the child is still scanned', async () => {
    const r = await audit();
    expect(roleProof(r)).toEqual({ check: 'cross-tenant-reference', table: 'memberships', object: 'memberships_role_id_fkey', status: 'proven', proof: PROOF });
    expect(cross(r)).toEqual([INVITER_FINDING]);
    expect(r.proofs.find((p) => p.object === 'memberships_inviter_id_fkey')!.status).toBe('scanned');
    expect(r.dataChecks.find((d) => d.check === 'cross-tenant-reference')).toMatchObject({ status: 'mixed', proven: 1, scanned: 1 });
    const text = renderAudit(r, 'table', { toolVersion: 'test', manifestFile: 'tenancy.yaml', verbose: false });
    expect(text).toContain(PROOF);
    // The snapshot records the unit as proven (a later --since runs it in full, asking the trigger again).
    expect(r.snapshot!.units.find((u) => u.object === 'memberships_role_id_fkey')).toMatchObject({ status: 'proven' });
    expect(r.snapshot!.units.find((u) => u.object === 'memberships_inviter_id_fkey')).toMatchObject({ status: 'findings' });
  });

  it('--deep scans it regardless: the planted rows are found', async () => {
    const r = await audit({ deep: true });
    expect(roleProof(r)!.status).toBe('scanned');
    expect(cross(r)).toEqual([INVITER_FINDING, ROLE_FINDING]);
  });

  it('disabled, replica-only or dropped, or its function replaced: scanned, the planted rows found with their count', async () => {
    const scanned = async () => {
      const r = await audit();
      expect(roleProof(r)!.status).toBe('scanned');
      expect(cross(r)).toEqual([INVITER_FINDING, ROLE_FINDING]);
    };
    await q(`ALTER TABLE memberships DISABLE TRIGGER ${TRIGGER}`);
    await scanned();
    await q(`ALTER TABLE memberships ENABLE REPLICA TRIGGER ${TRIGGER}`);
    await scanned();
    await q(`ALTER TABLE memberships ENABLE ALWAYS TRIGGER ${TRIGGER}`);
    expect(roleProof(await audit())!.status).toBe('proven');

    // The function replaced by one that accepts everything: the trigger is there and enabled, but proves nothing.
    const [{ src }] = await q(`SELECT prosrc AS src FROM pg_proc WHERE proname = 'memberships_role_id_shared_ref_check'`);
    await q(`CREATE OR REPLACE FUNCTION public.memberships_role_id_shared_ref_check() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$`);
    await scanned();
    await q(`CREATE OR REPLACE FUNCTION public.memberships_role_id_shared_ref_check() RETURNS trigger LANGUAGE plpgsql
      SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $fn$${src}$fn$`);
    expect(roleProof(await audit())!.status).toBe('proven');

    const [{ def }] = await q(`SELECT pg_get_triggerdef(oid) AS def FROM pg_trigger WHERE tgname = '${TRIGGER}'`);
    await q(`DROP TRIGGER ${TRIGGER} ON memberships`);
    await scanned();
    await q(def as string);
    expect(roleProof(await audit())!.status).toBe('proven');
  });

  it("the parent's trigger disabled, replica-only, dropped or its function replaced: not proven, fk-not-tenant-scoped names the key; a shared role then given to tenant 2 under tenant 1's membership is found", async () => {
    const fkScoped = async () =>
      (await runAudit({ databaseUrl: db().url, manifest, only: ['fk-not-tenant-scoped'] })).findings.map((f) => [f.table, f.samples]);
    const GUARDED = [['public.memberships', ['memberships_inviter_id_fkey']]];
    const UNGUARDED = [['public.memberships', ['memberships_inviter_id_fkey', 'memberships_role_id_fkey']]];
    const proven = async () => {
      expect(roleProof(await audit())!.status).toBe('proven');
      expect(await fkScoped()).toEqual(GUARDED);
    };
    const scanned = async (role = ROLE_FINDING) => {
      const r = await audit();
      expect(roleProof(r)!.status).toBe('scanned');
      expect(cross(r)).toEqual([INVITER_FINDING, role]);
      expect(await fkScoped()).toEqual(UNGUARDED);
    };
    await proven();
    // Enabled: the shared role 1 (used by memberships 1 of tenant 1 and 3 of tenant 2) cannot go to tenant 2.
    await expect(q(`UPDATE roles SET org_id = 2 WHERE id = 1`)).rejects.toMatchObject({ code: '23503' });

    await q(`ALTER TABLE roles DISABLE TRIGGER ${PARENT_TRIGGER}`);
    await scanned();
    // Now it can: membership 1 of tenant 1 points at tenant 2's own role 1, and the scan counts it with the planted two.
    await q(`UPDATE roles SET org_id = 2 WHERE id = 1`);
    try {
      await scanned(['memberships_role_id_fkey', 3, [1, 50, 51]]);
    } finally {
      await q(`UPDATE roles SET org_id = NULL WHERE id = 1`);
    }
    await q(`ALTER TABLE roles ENABLE REPLICA TRIGGER ${PARENT_TRIGGER}`);
    await scanned();
    await q(`ALTER TABLE roles ENABLE ALWAYS TRIGGER ${PARENT_TRIGGER}`);
    await proven();
    await q(`ALTER TABLE roles ENABLE TRIGGER ${PARENT_TRIGGER}`);
    await proven();

    // Its function replaced by one that accepts everything.
    const [{ src }] = await q(`SELECT prosrc AS src FROM pg_proc WHERE proname = 'memberships_role_id_shared_ref_parent_check'`);
    await q(`CREATE OR REPLACE FUNCTION public.memberships_role_id_shared_ref_parent_check() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NULL; END$$`);
    await scanned();
    await q(`CREATE OR REPLACE FUNCTION public.memberships_role_id_shared_ref_parent_check() RETURNS trigger LANGUAGE plpgsql
      SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $fn$${src}$fn$`);
    await proven();

    // Dropped: a database migrated before the parent's trigger existed has the child's alone.
    const [{ def }] = await q(`SELECT pg_get_triggerdef(oid) AS def FROM pg_trigger WHERE tgname = '${PARENT_TRIGGER}'`);
    await q(`DROP TRIGGER ${PARENT_TRIGGER} ON roles`);
    await scanned();
    await q(def as string);
    await proven();
  });

  it('two transactions racing on a shared role: the tenant change waits for the new membership, then is refused; the other way round, the membership waits and is refused', async () => {
    await q(`INSERT INTO roles VALUES (5, NULL, 'race')`);
    const other = new pg.Client({ connectionString: db().url });
    await other.connect();
    /** The outcome of a query left running: null when accepted, else its error; `settled` tells whether it is done. */
    const running = (p: Promise<unknown>) => {
      const r = { settled: false, result: undefined as Promise<{ code?: string; message: string } | null> | undefined };
      r.result = p.then(
        () => null,
        (e: { code?: string; message: string }) => e,
      ).finally(() => {
        r.settled = true;
      });
      return r;
    };
    try {
      await q(`BEGIN; INSERT INTO memberships (id, org_id, role_id) VALUES (60, 1, 5)`);
      const update = running(other.query(`UPDATE roles SET org_id = 2 WHERE id = 5`));
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(update.settled).toBe(false);
      await q('COMMIT');
      expect(await update.result).toMatchObject({ code: '23503', message: expect.stringContaining('(memberships_role_id_fkey): row 5, now of tenant 2') });
      await q(`DELETE FROM memberships WHERE id = 60`);

      await other.query(`BEGIN; UPDATE roles SET org_id = 2 WHERE id = 5`);
      const insert = running(q(`INSERT INTO memberships (id, org_id, role_id) VALUES (61, 1, 5)`));
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(insert.settled).toBe(false);
      await other.query('COMMIT');
      expect(await insert.result).toMatchObject({ code: '23503', message: expect.stringContaining('5 is neither a shared row nor a row of the row') });
    } finally {
      await q('ROLLBACK').catch(() => undefined);
      await other.end();
      await q(`DELETE FROM memberships WHERE id IN (60, 61); DELETE FROM roles WHERE id = 5`);
    }
    expect(cross(await audit({ deep: true }))).toEqual([INVITER_FINDING, ROLE_FINDING]);
  });

  it('--since equals a full audit: proven while the trigger is on, the planted rows found once it is off', async () => {
    const first = await audit();
    const again = await audit({ since: asPrevious(first) });
    expect(cross(again)).toEqual(cross(first));
    expect(roleProof(again)!.status).toBe('proven');
    expect(again.snapshot!.units.find((u) => u.object === 'memberships_role_id_fkey')).toMatchObject({ status: 'proven' });

    await q(`ALTER TABLE memberships DISABLE TRIGGER ${TRIGGER}`);
    try {
      const since = await audit({ since: asPrevious(again) });
      const full = await audit();
      expect(cross(since)).toEqual([INVITER_FINDING, ROLE_FINDING]);
      expect(cross(since)).toEqual(cross(full));
      expect(since.snapshot!.units.find((u) => u.object === 'memberships_role_id_fkey')).toMatchObject({ status: 'findings' });
      // With the row fixed and the trigger still off, a --since run from that audit agrees again.
      await q(`UPDATE memberships SET role_id = 1 WHERE id IN (50, 51)`);
      const fixedSince = await audit({ since: asPrevious(since) });
      expect(cross(fixedSince)).toEqual([INVITER_FINDING]);
      expect(cross(fixedSince)).toEqual(cross(await audit()));
    } finally {
      await q(`UPDATE memberships SET role_id = 3 WHERE id IN (50, 51)`);
      await q(`ALTER TABLE memberships ENABLE TRIGGER ${TRIGGER}`);
    }
  });
});

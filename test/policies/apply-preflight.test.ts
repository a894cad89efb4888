// policies apply in the wrong order or twice at once: the preflight refuses before changing anything,
// --dry-run changes nothing, and a second apply waits its turn (advisory lock) instead of colliding.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { resolveLiveContext } from '../../src/config/live-context.js';
import { parseManifestText } from '../../src/config/manifest.js';
import { writePolicyFiles } from '../../src/policies/policy-files.js';
import { SAMPLE_MANIFEST } from '../../src/sample/sample-crm.js';
import { releaseAdvisoryLock, tryAdvisoryLock } from '../../src/state/locks.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { prepareSampleAfterRollout } from './post-rollout.js';

/** What apply could have changed: RLS flags, policies, the bookkeeping schema, roles. */
async function securityState(client: pg.ClientBase, roles: string[]) {
  const { rows } = await client.query(
    `SELECT (SELECT count(*)::int FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relrowsecurity) AS rls,
            (SELECT count(*)::int FROM pg_policies WHERE schemaname = 'public') AS policies,
            (SELECT count(*)::int FROM pg_namespace WHERE nspname = 'crm_tenancy') AS state,
            (SELECT count(*)::int FROM pg_roles WHERE rolname = ANY ($1::text[])) AS roles`,
    [roles],
  );
  return rows[0];
}

describe('policies apply: preflight, dry run, one at a time', () => {
  const db = useTestDatabase({ sample: true });

  async function setup(app: string) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-apply-preflight-'));
    const text = (await readFile(SAMPLE_MANIFEST, 'utf8')).replace('app: [crm_app]', `app: [${app}]`).replace(/\n\s*crm_support: .*/, '');
    const manifestFile = path.join(dir, 'tenancy.yaml');
    await writeFile(manifestFile, text);
    const manifest = parseManifestText(text, manifestFile);
    return { dir, manifestFile, manifest, policiesDir: path.join(dir, 'policies') };
  }
  const apply = (s: { manifestFile: string; policiesDir: string }, ...args: string[]) =>
    runCli(['policies', 'apply', '--database-url', db().url, '--config', s.manifestFile, '--policies-dir', s.policiesDir, ...args]);

  it('right after generate (no migrate, NULL tenants): exit 1, names the tables and the commands, changes nothing; --force applies', async () => {
    const app = `crmt_app_pf_${Date.now().toString(36)}`;
    const s = await setup(app);
    // The files as generate writes them, before any migration ran (the sample still has NULL tenants).
    await writePolicyFiles({ live: await resolveLiveContext(db().client, s.manifest), dir: s.policiesDir });
    const before = await securityState(db().client, [app]);
    const refused = await apply(s);
    expect(refused.code, refused.stderr).toBe(1);
    expect(refused.stderr).toMatch(/not ready: public\.phone_numbers: 1 row\(s\) have no company_id/);
    expect(refused.stderr).toMatch(/not ready: public\.email_campaigns has no company_id column/);
    expect(refused.stderr).toMatch(/run first: crm-tenancy backfill && crm-tenancy migrate/);
    expect(refused.stderr).toMatch(/nothing was changed \(--force applies anyway\)/);
    expect(await securityState(db().client, [app])).toEqual(before);
    const json = JSON.parse((await apply(s, '--json')).stdout);
    expect(json.ok).toBe(false);
    expect(json.preflight.map((p: { table: string }) => p.table)).toContain('email_campaigns');
    // An expert's --force applies what it can, and says what it overrode.
    const forced = await apply(s, '--force');
    expect(forced.stderr).toMatch(/--force: applying although \d+ scoped table\(s\) are not ready/);
    expect((await securityState(db().client, [app])).rls).toBeGreaterThan(before.rls);
    // Undo for the next test: the sample without any RLS again.
    const { rows } = await db().client.query<{ t: string }>(
      `SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables WHERE schemaname = 'public'`,
    );
    for (const { t } of rows) {
      await db().client.query(`ALTER TABLE ${t} DISABLE ROW LEVEL SECURITY, NO FORCE ROW LEVEL SECURITY`);
      const pols = await db().client.query<{ p: string }>(`SELECT format('%I', policyname) AS p FROM pg_policies WHERE format('%I.%I', schemaname, tablename) = $1`, [t]);
      for (const { p } of pols.rows) await db().client.query(`DROP POLICY ${p} ON ${t}`);
    }
    await db().client.query(`DROP SCHEMA IF EXISTS crm_tenancy CASCADE`);
    await db().client.query(`DROP OWNED BY ${app}`).catch(() => {});
    await db().client.query(`DROP ROLE IF EXISTS ${app}`);
  });

  it('after the rollout: --dry-run lists what would apply and changes nothing; apply then applies', async () => {
    const app = await db().createRole('app');
    const s = await setup(app);
    await prepareSampleAfterRollout(db().client, s.manifest, { composite: true });
    await writePolicyFiles({ live: await resolveLiveContext(db().client, s.manifest), dir: s.policiesDir });
    const before = await securityState(db().client, [app]);
    const dry = await apply(s, '--dry-run', '--json');
    expect(dry.code, dry.stderr).toBe(0);
    const planned = JSON.parse(dry.stdout);
    expect(planned.dryRun).toBe(true);
    expect(planned.preflight).toEqual([]);
    expect(planned.tables.filter((t: { status: string }) => t.status === 'would-apply')).toHaveLength(28);
    expect(await securityState(db().client, [app])).toEqual(before);
    const applied = await apply(s);
    expect(applied.code, applied.stderr).toBe(0);
    expect((await securityState(db().client, [app])).policies).toBeGreaterThan(before.policies);
  });

  it('a second apply while one holds the lock: exit 2 naming its pid; runs once the lock is free', async () => {
    const app = await db().createRole('app');
    const s = await setup(app);
    await writePolicyFiles({ live: await resolveLiveContext(db().client, s.manifest), dir: s.policiesDir });
    const other = await db().connect();
    const { rows } = await other.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    expect(await tryAdvisoryLock(other, 'policies', 'crm_tenancy')).toBeNull();
    try {
      const blocked = await apply(s, '--dry-run');
      expect(blocked.code).toBe(2);
      expect(blocked.stderr).toContain(`another policies apply is running (pid ${rows[0].pid}`);
    } finally {
      await releaseAdvisoryLock(other, 'policies', 'crm_tenancy');
    }
    expect((await apply(s, '--dry-run')).code).toBe(0);
  });
});

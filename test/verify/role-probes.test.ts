// The role probes, each two-sided: definer functions and triggers, tenant-setting defaults (and a fresh login), unprotected tables, the bookkeeping schema, SET ROLE paths.
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ident, literal } from '../../src/db/quote.js';
import { verifyIsolation } from '../../src/verify/verify.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { failed, miniRollout, writeManifest, type MiniRollout } from './fixture.js';

describe('verify role probes', () => {
  const db = useTestDatabase();
  let m: MiniRollout;
  const verify = (manifest = m.manifest) => verifyIsolation({ client: db().client, manifest });
  beforeAll(async () => {
    m = await miniRollout(db());
    // The login probe logs in as the app role with the password of verify's own URL (an embedded
    // server checks passwords; a trust server does not).
    const password = decodeURIComponent(new URL(db().url).password);
    if (password) await db().client.query(`ALTER ROLE ${ident(m.app)} PASSWORD ${literal(password)}`);
  });

  it('pass on the rollout, one line per role probe', async () => {
    const result = await verify();
    expect(result.ok).toBe(true);
    const roleProbes = result.probes.filter((p) => ['definer-function', 'tenant-setting-default', 'unprotected-table', 'state-schema', 'role-membership'].includes(p.probe));
    expect(roleProbes.map((p) => [p.probe, p.status])).toEqual([
      ['definer-function', 'pass'],
      ['tenant-setting-default', 'pass'],
      ['unprotected-table', 'pass'],
      ['state-schema', 'pass'],
      ['role-membership', 'pass'],
    ]);
    // The app role can log in here: a fresh login was tried and saw no tenant.
    expect(roleProbes[1].detail).toContain('a fresh login as');
  });

  it('definer-function: a SECURITY DEFINER function in another schema returning every tenant fails; dropped, it passes', async () => {
    const c = db().client;
    await c.query(`CREATE SCHEMA other`);
    try {
      await c.query(`CREATE FUNCTION other.all_tasks() RETURNS SETOF public.tasks LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog
                       AS 'SELECT * FROM public.tasks'`);
      // EXECUTE is granted (to PUBLIC, by default): one GRANT USAGE away from a leak, so it fails already.
      const latent = await verify();
      expect(failed(latent)).toEqual([['other.all_tasks()', 'definer-function']]);
      expect(latent.failures[0].detail).toContain('once it gets USAGE on schema other');
      await c.query(`GRANT USAGE ON SCHEMA other TO ${ident(m.app)}`);
      const broken = await verify();
      expect(failed(broken)).toEqual([['other.all_tasks()', 'definer-function']]);
      expect(broken.failures[0].detail).toContain('with tenant 2 set it returns 1 row(s) of tenant 1');
      const cli = await runCli(['verify', '--config', m.manifestFile, '--database-url', m.url]);
      expect(cli.code).toBe(1);
      expect(cli.stdout).toMatch(/FAILED other\.all_tasks\(\) definer-function/);
    } finally {
      await c.query(`DROP SCHEMA other CASCADE`);
    }
    expect((await verify()).ok).toBe(true);
  });

  it('definer-function: dynamic SQL fails until listed under definer_functions (then reported)', async () => {
    const c = db().client;
    await c.query(`CREATE FUNCTION count_rows(t text) RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
                     AS $$ DECLARE n bigint; BEGIN EXECUTE format('SELECT count(*) FROM public.%I', t) INTO n; RETURN n; END $$`);
    try {
      expect(failed(await verify())).toEqual([['count_rows(text)', 'definer-function']]);
      const allowed = await writeManifest(path.join(path.dirname(m.manifestFile), 'allowed.yaml'), {
        ...m.raw,
        definer_functions: { count_rows: 'counts for the admin dashboard' },
      });
      const result = await verify(allowed);
      expect(result.ok).toBe(true);
      expect(result.probes.find((p) => p.probe === 'definer-function')).toMatchObject({
        table: 'count_rows(text)',
        status: 'reported',
        detail: expect.stringContaining('counts for the admin dashboard'),
      });
    } finally {
      await c.query(`DROP FUNCTION count_rows(text)`);
    }
  });

  it('definer-function: a SECURITY DEFINER trigger on a table the role writes fails even without EXECUTE; dropped, it passes', async () => {
    const c = db().client;
    await c.query(`CREATE TABLE task_copies (LIKE tasks)`);
    await c.query(`CREATE FUNCTION copy_task() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
                     AS $$ BEGIN INSERT INTO public.task_copies SELECT NEW.*; RETURN NEW; END $$`);
    await c.query(`REVOKE EXECUTE ON FUNCTION copy_task() FROM PUBLIC`);
    await c.query(`CREATE TRIGGER copy AFTER INSERT ON tasks FOR EACH ROW EXECUTE FUNCTION copy_task()`);
    try {
      const broken = await verify();
      expect(failed(broken)).toEqual([['copy_task()', 'definer-function']]);
      expect(broken.failures[0].detail).toContain('fires as a trigger on public.tasks');
    } finally {
      await c.query(`DROP TRIGGER copy ON tasks; DROP FUNCTION copy_task(); DROP TABLE task_copies`);
    }
    expect((await verify()).ok).toBe(true);
  });

  it('tenant-setting-default: a role-level default is seen in the catalog and by a fresh login; reset, it passes', async () => {
    const c = db().client;
    await c.query(`ALTER ROLE ${ident(m.app)} IN DATABASE ${ident(db().name)} SET app.org = '1'`);
    try {
      const broken = await verify();
      expect(failed(broken)).toEqual([
        [`role ${m.app} in database ${db().name}`, 'tenant-setting-default'],
        [`login as ${m.app}`, 'tenant-setting-default'],
      ]);
      expect(broken.failures[1].detail).toContain(`app.org = '1'`);
      // NOLOGIN: no login is tried; the catalog still shows the default.
      await c.query(`ALTER ROLE ${ident(m.app)} NOLOGIN`);
      expect(failed(await verify())).toEqual([[`role ${m.app} in database ${db().name}`, 'tenant-setting-default']]);
      // A login that fails (here: no CONNECT) is skipped quietly.
      await c.query(`ALTER ROLE ${ident(m.app)} LOGIN; REVOKE CONNECT ON DATABASE ${ident(db().name)} FROM PUBLIC`);
      expect(failed(await verify())).toEqual([[`role ${m.app} in database ${db().name}`, 'tenant-setting-default']]);
    } finally {
      await c.query(`GRANT CONNECT ON DATABASE ${ident(db().name)} TO PUBLIC`);
      await c.query(`ALTER ROLE ${ident(m.app)} LOGIN`);
      await c.query(`ALTER ROLE ${ident(m.app)} IN DATABASE ${ident(db().name)} RESET app.org`);
    }
    expect((await verify()).ok).toBe(true);
  });

  it('tenant-setting-default: a database-level default fails; reset, it passes', async () => {
    const c = db().client;
    await c.query(`ALTER DATABASE ${ident(db().name)} SET app.org = '2'`);
    try {
      expect(failed(await verify())).toEqual([
        [`database ${db().name}`, 'tenant-setting-default'],
        [`login as ${m.app}`, 'tenant-setting-default'],
      ]);
    } finally {
      await c.query(`ALTER DATABASE ${ident(db().name)} RESET app.org`);
    }
    expect((await verify()).ok).toBe(true);
  });

  it('unprotected-table: an inheritance child and a table in another schema with the tenant column, readable without forced RLS, fail; protected, they pass', async () => {
    const c = db().client;
    await c.query(`CREATE TABLE tasks_old () INHERITS (tasks)`);
    await c.query(`INSERT INTO tasks_old (org_id, project_id, title) SELECT org_id, project_id, 'old ' || title FROM tasks`);
    await c.query(`GRANT SELECT ON tasks_old TO ${ident(m.app)}`);
    await c.query(`CREATE SCHEMA reports; CREATE TABLE reports.org_stats (org_id integer, n bigint)`);
    await c.query(`GRANT USAGE ON SCHEMA reports TO ${ident(m.app)}; GRANT SELECT ON reports.org_stats TO ${ident(m.app)}`);
    try {
      const broken = await verify();
      expect(failed(broken)).toEqual([
        ['public.tasks_old', 'unprotected-table'],
        ['reports.org_stats', 'unprotected-table'],
      ]);
      expect(broken.failures[0].detail).toContain('below the scoped table public.tasks');
      // Enabled but not forced is still a failure.
      await c.query(`ALTER TABLE tasks_old ENABLE ROW LEVEL SECURITY`);
      expect(failed(await verify())).toEqual([
        ['public.tasks_old', 'unprotected-table'],
        ['reports.org_stats', 'unprotected-table'],
      ]);
      await c.query(`ALTER TABLE tasks_old FORCE ROW LEVEL SECURITY`);
      await c.query(`REVOKE SELECT ON reports.org_stats FROM ${ident(m.app)}`);
      expect((await verify()).ok).toBe(true);
    } finally {
      await c.query(`DROP TABLE tasks_old; DROP SCHEMA reports CASCADE`);
    }
  });

  it('unprotected-table: an exempt table with the tenant column is reported with its reason, not failed', async () => {
    const c = db().client;
    await c.query(`CREATE TABLE org_notes (org_id integer, note text); GRANT SELECT ON org_notes TO ${ident(m.app)}`);
    try {
      expect(failed(await verify())).toEqual([['public.org_notes', 'unprotected-table']]);
      const exempt = await writeManifest(path.join(path.dirname(m.manifestFile), 'exempt.yaml'), { ...m.raw, exempt: { org_notes: 'public notes, shown to everyone' } });
      const result = await verify(exempt);
      expect(result.ok).toBe(true);
      expect(result.probes.find((p) => p.probe === 'unprotected-table')).toMatchObject({
        table: 'public.org_notes',
        status: 'reported',
        detail: expect.stringContaining('public notes, shown to everyone'),
      });
    } finally {
      await c.query(`DROP TABLE org_notes`);
    }
  });

  it('state-schema: the bookkeeping schema readable by the role fails, one failure per table; revoked, it passes', async () => {
    const c = db().client;
    const state = ident(m.manifest.stateSchema);
    await c.query(`GRANT USAGE ON SCHEMA ${state} TO ${ident(m.app)}; GRANT SELECT ON ALL TABLES IN SCHEMA ${state} TO ${ident(m.app)}`);
    try {
      const broken = await verify();
      expect(broken.failures.length).toBeGreaterThan(0);
      expect(new Set(broken.failures.map((f) => f.probe))).toEqual(new Set(['state-schema']));
      expect(broken.failures.map((f) => f.table)).toContain(`${m.manifest.stateSchema}.state_migrations`);
    } finally {
      await c.query(`REVOKE SELECT ON ALL TABLES IN SCHEMA ${state} FROM ${ident(m.app)}; REVOKE USAGE ON SCHEMA ${state} FROM ${ident(m.app)}`);
    }
    expect((await verify()).ok).toBe(true);
  });

  it('role-membership: membership in a superuser, a BYPASSRLS role or a scoped table owner fails; revoked, it passes', async () => {
    const c = db().client;
    const superuser = await db().createRole('super', 'SUPERUSER');
    const bypass = await db().createRole('bypass', 'BYPASSRLS');
    const owner = await db().createRole('owner');
    const original = (await c.query<{ owner: string }>(`SELECT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE oid = 'public.threads'::regclass`)).rows[0].owner;
    await c.query(`GRANT ${ident(superuser)}, ${ident(bypass)} TO ${ident(m.app)}`);
    try {
      const broken = await verify();
      expect(failed(broken)).toEqual([
        [bypass, 'role-membership'],
        [superuser, 'role-membership'],
      ].sort((x, y) => x[0].localeCompare(y[0])));
      await c.query(`REVOKE ${ident(superuser)}, ${ident(bypass)} FROM ${ident(m.app)}`);
      await c.query(`ALTER TABLE threads OWNER TO ${ident(owner)}; GRANT ${ident(owner)} TO ${ident(m.app)}`);
      // The owner's rights are inherited too: truncate and alter-table name the same hole on the table.
      const owned = await verify();
      expect(failed(owned)).toEqual([
        ['threads', 'truncate'],
        ['threads', 'alter-table'],
        [owner, 'role-membership'],
      ]);
    } finally {
      await c.query(`REVOKE ${ident(superuser)}, ${ident(bypass)}, ${ident(owner)} FROM ${ident(m.app)}`);
      await c.query(`ALTER TABLE threads OWNER TO ${ident(original)}`);
    }
    expect((await verify()).ok).toBe(true);
  });
});

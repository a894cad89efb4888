// The write probes test the policy of their own command, make the rows they need on empty tables, run both ways, and list what they cannot probe.
import { beforeAll, describe, expect, it } from 'vitest';
import { ident } from '../../src/db/quote.js';
import { verifyIsolation } from '../../src/verify/verify.js';
import { dataChecksum } from '../policies/fixture.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { CURRENT_ORG, failed, miniRollout, type MiniRollout } from './fixture.js';

describe('verify write probes', () => {
  const db = useTestDatabase();
  let m: MiniRollout;
  const verify = () => verifyIsolation({ client: db().client, manifest: m.manifest });
  beforeAll(async () => {
    m = await miniRollout(db());
  });

  it('passes on the rollout; rows for the empty tables (and their parents) are made inside the rolled-back probes', async () => {
    const before = await dataChecksum(db().client, 'public');
    const result = await verify();
    expect(await dataChecksum(db().client, 'public')).toEqual(before);
    expect(result.failures).toEqual([]);
    expect(result.unprobed).toEqual([]);
    expect(result.ok).toBe(true);
    expect(result.tenants).toEqual({ a: '2', b: '1' });
    const probe = (table: string, name: string) => result.probes.find((p) => p.table === table && p.probe === name)!;
    for (const table of ['threads', 'comments']) {
      for (const name of ['update-to-other-tenant', 'update-other-rows', 'delete-other-rows']) {
        expect([table, name, probe(table, name).status]).toEqual([table, name, 'pass']);
        expect(probe(table, name).detail).toContain('a row made for the probe');
      }
      expect(probe(table, 'cross-tenant-reference')).toMatchObject({ status: 'pass', detail: expect.stringContaining('rejected by') });
    }
    // Both ways: each tenant's own rows were counted.
    expect(probe('tasks', 'select-own').detail).toContain(`tenant 2's 2 row(s)`);
    expect(probe('tasks', 'select-own').detail).toContain(`tenant 1's 1 row(s)`);
  });

  it('a permissive FOR UPDATE … WITH CHECK (true) lets a tenant move its rows away: update-to-other-tenant fails; dropped, it passes', async () => {
    const c = db().client;
    await c.query(`CREATE POLICY sloppy_move ON tasks FOR UPDATE TO ${ident(m.app)} USING (org_id = ${CURRENT_ORG}) WITH CHECK (true)`);
    try {
      const broken = await verify();
      expect(failed(broken)).toEqual([['tasks', 'update-to-other-tenant']]);
      expect(broken.failures[0].detail).toMatch(/moving its row to tenant \d: 1 row\(s\) changed/);
    } finally {
      await c.query(`DROP POLICY sloppy_move ON tasks`);
    }
    const fixed = await verify();
    expect(fixed.ok).toBe(true);
    expect(fixed.probes.find((p) => p.table === 'tasks' && p.probe === 'update-to-other-tenant')!.detail).toContain('rejected by row-level security');
  });

  it('FOR INSERT WITH CHECK (true) on an empty table: insert-other-tenant fails instead of skipping; dropped, it passes', async () => {
    const c = db().client;
    await c.query(`CREATE POLICY sloppy_insert ON threads FOR INSERT TO ${ident(m.app)} WITH CHECK (true)`);
    try {
      expect(failed(await verify())).toEqual([['threads', 'insert-other-tenant']]);
    } finally {
      await c.query(`DROP POLICY sloppy_insert ON threads`);
    }
    expect((await verify()).ok).toBe(true);
  });

  it("FOR UPDATE / FOR DELETE USING (true) on an empty table: the other tenant's rows are reached (rows made for the probe); dropped, it passes", async () => {
    const c = db().client;
    await c.query(`CREATE POLICY sloppy_update ON comments FOR UPDATE TO ${ident(m.app)} USING (true)`);
    await c.query(`CREATE POLICY sloppy_delete ON comments FOR DELETE TO ${ident(m.app)} USING (true)`);
    try {
      const broken = await verify();
      expect(failed(broken)).toEqual([
        ['comments', 'update-to-other-tenant'],
        ['comments', 'update-other-rows'],
        ['comments', 'delete-other-rows'],
      ]);
    } finally {
      await c.query(`DROP POLICY sloppy_update ON comments; DROP POLICY sloppy_delete ON comments`);
    }
    expect((await verify()).ok).toBe(true);
  });

  it('USING (org_id >= setting) leaks only to lower ids: caught by probing both ways (tenant 1 set sees tenant 2); dropped, it passes', async () => {
    const c = db().client;
    await c.query(`CREATE POLICY wider ON projects FOR SELECT TO ${ident(m.app)} USING (org_id >= ${CURRENT_ORG})`);
    try {
      const broken = await verify();
      expect(broken.tenants).toEqual({ a: '2', b: '1' });
      expect(failed(broken)).toEqual([['projects', 'select-own']]);
      expect(broken.failures[0].detail).toContain('tenant 1 set: sees 2 row(s) of other tenants');
    } finally {
      await c.query(`DROP POLICY wider ON projects`);
    }
    expect((await verify()).ok).toBe(true);
  });

  it('a row that cannot be made is listed as not probed: exit 1 unless --allow-unprobed; once it can be made, it passes', async () => {
    const c = db().client;
    await c.query(`ALTER TABLE comments ADD CONSTRAINT body_known CHECK (body IN ('hello', 'bye'))`);
    try {
      const result = await verify();
      expect(result.failures).toEqual([]);
      expect(result.ok).toBe(false);
      expect(result.unprobed.map((u) => [u.table, u.probe])).toEqual([
        ['comments', 'update-to-other-tenant'],
        ['comments', 'update-other-rows'],
        ['comments', 'delete-other-rows'],
        ['comments', 'cross-tenant-reference'],
      ]);
      expect(result.unprobed[0].detail).toContain('body_known');
      expect((await verifyIsolation({ client: c, manifest: m.manifest, allowUnprobed: true })).ok).toBe(true);
      const cli = await runCli(['verify', '--config', m.manifestFile, '--database-url', m.url]);
      expect(cli.code).toBe(1);
      expect(cli.stdout).toMatch(/NOT PROBED comments update-other-rows/);
      const allowed = await runCli(['verify', '--allow-unprobed', '--json', '--config', m.manifestFile, '--database-url', m.url]);
      expect(allowed.code).toBe(0);
      expect(JSON.parse(allowed.stdout).unprobed).toHaveLength(4);
    } finally {
      await c.query(`ALTER TABLE comments DROP CONSTRAINT body_known`);
    }
    expect((await verify()).unprobed).toEqual([]);
  });

  it('an unpopulated materialized view is not probed (not a leak); populated, it leaks (materialized views ignore RLS); dropped, it passes', async () => {
    const c = db().client;
    await c.query(`CREATE MATERIALIZED VIEW task_list AS SELECT id, org_id, title FROM tasks WITH NO DATA`);
    await c.query(`GRANT SELECT ON task_list TO ${ident(m.app)}`);
    try {
      const unpopulated = await verify();
      expect(unpopulated.failures).toEqual([]);
      expect(unpopulated.unprobed.map((u) => [u.table, u.probe])).toEqual([['tasks', 'views']]);
      expect(unpopulated.unprobed[0].detail).toContain('not populated');
      await c.query(`REFRESH MATERIALIZED VIEW task_list`);
      const populated = await verify();
      expect(failed(populated)).toEqual([['tasks', 'views']]);
      expect(populated.failures[0].detail).toContain('materialized view ignores row-level security');
    } finally {
      await c.query(`DROP MATERIALIZED VIEW task_list`);
    }
    expect((await verify()).ok).toBe(true);
  });
});

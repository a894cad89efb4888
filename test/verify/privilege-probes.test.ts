// The truncate and alter-table probes: a TRUNCATE grant or table ownership lets the app role past RLS; verify names them, and passes once closed.
import { beforeAll, describe, expect, it } from 'vitest';
import { ident } from '../../src/db/quote.js';
import { verifyIsolation } from '../../src/verify/verify.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { failed, miniRollout, type MiniRollout } from './fixture.js';

describe('verify privilege probes', () => {
  const db = useTestDatabase();
  let m: MiniRollout;
  const verify = () => verifyIsolation({ client: db().client, manifest: m.manifest });
  beforeAll(async () => {
    m = await miniRollout(db());
  });

  it('refused TRUNCATE and ALTER TABLE are observed live as the role (42501)', async () => {
    const result = await verify();
    expect(result.ok).toBe(true);
    for (const probe of ['truncate', 'alter-table']) {
      const rows = result.probes.filter((p) => p.probe === probe);
      expect(rows.map((p) => p.table)).toEqual(['orgs', 'projects', 'tasks', 'threads', 'comments']);
      for (const p of rows) expect([p.table, p.status, p.detail]).toEqual([p.table, 'pass', expect.stringContaining('rejected')]);
    }
  });

  it('GRANT TRUNCATE: truncate fails (TRUNCATE ignores RLS), also through the CLI; revoked, it passes', async () => {
    const c = db().client;
    await c.query(`GRANT TRUNCATE ON tasks TO ${ident(m.app)}`);
    try {
      const broken = await verify();
      expect(failed(broken)).toEqual([['tasks', 'truncate']]);
      expect(broken.failures[0].detail).toContain('TRUNCATE ignores row-level security');
      const cli = await runCli(['verify', '--json', '--config', m.manifestFile, '--database-url', m.url]);
      expect(cli.code).toBe(1);
      expect(JSON.parse(cli.stdout).failures).toMatchObject([{ role: m.app, table: 'tasks', probe: 'truncate' }]);
    } finally {
      await c.query(`REVOKE TRUNCATE ON tasks FROM ${ident(m.app)}`);
    }
    expect((await verify()).ok).toBe(true);
  });

  it('the app role owns a scoped table: alter-table fails (an owner can switch RLS off); owner restored, it passes', async () => {
    const c = db().client;
    const owner = (await c.query<{ owner: string }>(`SELECT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE oid = 'public.projects'::regclass`)).rows[0].owner;
    await c.query(`ALTER TABLE projects OWNER TO ${ident(m.app)}`);
    try {
      const broken = await verify();
      // An owner may TRUNCATE too: both holes are named.
      expect(failed(broken)).toEqual([
        ['projects', 'truncate'],
        ['projects', 'alter-table'],
      ]);
      expect(broken.failures[1].detail).toContain(`owns public.projects`);
      const cli = await runCli(['verify', '--config', m.manifestFile, '--database-url', m.url]);
      expect(cli.code).toBe(1);
      expect(cli.stdout).toMatch(/FAILED projects alter-table/);
    } finally {
      // Giving the table back also takes the role's grants with it (they were merged into the owner's).
      await c.query(`ALTER TABLE projects OWNER TO ${ident(owner)}`);
      await c.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON projects TO ${ident(m.app)}`);
    }
    expect((await verify()).ok).toBe(true);
  });
});

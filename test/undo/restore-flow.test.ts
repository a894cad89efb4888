// The restore flow as the README documents it, run literally through the CLI: `migrate down --force`
// archives the tenant values and prints the line that puts them back (`migrate up --count N &&
// migrate restore RUN_ID && migrate up`); running that line restores every value and every phase.
// A restore run too early names that line; a plain `migrate up` refused by the NULLs names the run.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseManifestText, type Manifest } from '../../src/config/manifest.js';
import { generateMigrations } from '../../src/migrate/generate.js';
import { runMigrate } from '../../src/migrate/runner.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { useTempDirs } from '../migrate/support.js';

const MANIFEST = `schema: app
state_schema: app_state
tenant:
  table: tenants
  key: id
  column: tenant_id
  setting: app.tenant_id
  composite_keys: true
roles:
  app: [app_user]
tables:
  items:
    unique: [[code]]
`;

describe('migrate down --force, then the printed restore line', () => {
  const db = useTestDatabase();
  const tempDir = useTempDirs();
  let manifest: Manifest;
  let dir: string;
  let config: string;
  let values: string;

  const cli = (args: string[]) => runCli([...args, '--config', config, '--database-url', db().url]);
  const column = async () =>
    (await db().client.query(`SELECT attnotnull FROM pg_attribute WHERE attrelid = 'app.items'::regclass AND attname = 'tenant_id' AND NOT attisdropped`)).rows[0];
  const tenantValues = async () => JSON.stringify((await db().client.query(`SELECT id, tenant_id FROM app.items ORDER BY id`)).rows);

  beforeAll(async () => {
    const c = db().client;
    await c.query(`CREATE ROLE app_user NOLOGIN`).catch(() => {});
    await c.query(`
      CREATE SCHEMA app;
      CREATE TABLE app.tenants (id int PRIMARY KEY);
      INSERT INTO app.tenants VALUES (1), (2);
      CREATE TABLE app.items (id int PRIMARY KEY, code text);
      INSERT INTO app.items SELECT i, 'c' || i FROM generate_series(1, 12) i;`);
    manifest = parseManifestText(MANIFEST);
    dir = await tempDir();
    config = path.join(await tempDir(), 'tenancy.yaml');
    await writeFile(config, MANIFEST, 'utf8');
    await generateMigrations({ client: c, manifest, migrationsDir: dir, policiesDir: await tempDir() });
    expect((await runMigrate({ databaseUrl: db().url, manifest, migrationsDir: dir, direction: 'up', count: 1 })).exitCode).toBe(0);
    await c.query(`UPDATE app.items SET tenant_id = 1 + id % 2`);
    expect((await runMigrate({ databaseUrl: db().url, manifest, migrationsDir: dir, direction: 'up' })).exitCode).toBe(0);
    values = await tenantValues();
    expect((await column()).attnotnull).toBe(true);
  });

  it('down --force prints the restore line; a restore before it names the line; up alone names the run; the line restores everything', async () => {
    const files = (await db().client.query(`SELECT count(*)::int AS n FROM app_state.pgmigrations`)).rows[0].n;
    const down = await cli(['migrate', 'down', '--count', String(files), '--force', '--migrations-dir', dir]);
    expect(down.code, down.stderr).toBe(0);
    expect(await column()).toBeUndefined();
    const line = /put them back with: (.+)$/m.exec(down.stderr)?.[1];
    expect(line).toMatch(/^crm-tenancy migrate up --count 1 --migrations-dir \S+ && crm-tenancy migrate restore migrate-down-\S+ --migrations-dir \S+ && crm-tenancy migrate up --migrations-dir \S+$/);
    const runId = /restore (migrate-down-\S+)/.exec(line!)![1];

    // Too early: the column is not there yet; the message gives the same line.
    const early = await cli(['migrate', 'restore', runId, '--migrations-dir', dir]);
    expect(early.code).toBe(1);
    expect(early.stderr).toContain('app.items.tenant_id does not exist yet');
    expect(early.stderr).toContain(line!);

    // What the README used to say (`migrate up && migrate restore`): up stops at validate on the NULLs,
    // so the restore never runs; it now names the archive waiting to be restored.
    const plainUp = await cli(['migrate', 'up', '--migrations-dir', dir]);
    expect(plainUp.code).toBe(1);
    expect(plainUp.stderr).toContain(`crm-tenancy migrate restore ${runId}`);
    await cli(['migrate', 'down', '--count', '10', '--force', '--migrations-dir', dir]);
    expect(await column()).toBeUndefined();

    // The printed line, command by command, exactly as a shell runs `a && b && c`.
    for (const command of line!.split(' && ')) {
      const args = command.split(' ');
      expect(args[0]).toBe('crm-tenancy');
      const res = await cli(args.slice(1));
      expect(res.code, `${command}\n${res.stderr}`).toBe(0);
    }
    expect(await tenantValues()).toBe(values);
    expect((await column()).attnotnull).toBe(true);
    const status = await db().client.query(`SELECT status FROM app_state.runs WHERE id = $1`, [runId]);
    expect(status.rows[0].status).toBe('undone');
  });
});

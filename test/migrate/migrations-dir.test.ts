// `migrate` without migration files (a wrong or empty --migrations-dir) stops with exit 2 before it
// touches the database; with files that have all run, it says so and exits 0.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { parseManifest, type Manifest } from '../../src/config/manifest.js';
import { TenancyError } from '../../src/errors.js';
import { generateMigrations } from '../../src/migrate/generate.js';
import { runMigrate } from '../../src/migrate/runner.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { useTempDirs } from './support.js';

const raw = {
  schema: 'app',
  state_schema: 'app_state',
  tenant: { table: 'tenants', key: 'id', column: 'tenant_id', setting: 'app.tenant_id' },
  roles: { app: ['app_user'] },
  tables: { items: {} },
};
const manifest: Manifest = parseManifest(raw);

describe('migrate and its migrations directory', () => {
  const db = useTestDatabase();
  const tempDir = useTempDirs();
  let root: string;
  let config: string;

  const stateSchemaExists = async () => (await db().client.query(`SELECT to_regnamespace('app_state') IS NOT NULL AS ok`)).rows[0].ok;
  const cli = (...args: string[]) => runCli(['migrate', ...args, '--config', config, '--database-url', db().url]);

  beforeEach(async () => {
    await db().client.query(`DROP SCHEMA IF EXISTS app CASCADE; DROP SCHEMA IF EXISTS app_state CASCADE;
      CREATE SCHEMA app; CREATE TABLE app.tenants (id int PRIMARY KEY); CREATE TABLE app.items (id serial PRIMARY KEY, name text);`);
    root = await tempDir();
    config = path.join(root, 'tenancy.json.yaml');
    await writeFile(config, JSON.stringify(raw));
  });

  it('a --migrations-dir that does not exist: exit 2 (usage) for up, down and --dry-run, no bookkeeping schema created', async () => {
    const missing = path.join(root, 'no-such-dir');
    for (const args of [[], ['down'], ['--dry-run']]) {
      const r = await cli(...args, '--migrations-dir', missing);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(`the migrations directory ${missing} does not exist`);
      expect(r.stderr).toContain('crm-tenancy generate');
      expect(r.stderr).not.toContain('nothing to migrate');
    }
    await expect(runMigrate({ databaseUrl: db().url, manifest, migrationsDir: missing, direction: 'up' })).rejects.toMatchObject({
      code: 'usage',
      exitCode: 2,
    } satisfies Partial<TenancyError>);
    expect(await stateSchemaExists()).toBe(false);
  });

  it('a directory without *.sql files: exit 2 (usage), no bookkeeping schema created', async () => {
    const empty = path.join(root, 'migrations');
    await mkdir(empty);
    await writeFile(path.join(empty, 'README.md'), 'migrations go here\n');
    const r = await cli('--migrations-dir', empty);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`no migration files (*.sql) in ${empty}`);
    expect(await stateSchemaExists()).toBe(false);
  });

  it('a directory whose files have all run: exit 0, "nothing to migrate"', async () => {
    const dir = path.join(root, 'migrations');
    await generateMigrations({ client: db().client, manifest, migrationsDir: dir, policiesDir: await tempDir() });
    expect((await cli('--migrations-dir', dir)).code).toBe(0);
    expect(await stateSchemaExists()).toBe(true);
    const again = await cli('--migrations-dir', dir);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain('nothing to migrate: every migration has run');
  });
});

// node-pg-migrate and crm-tenancy share one migrations table: what either ran, the other sees as run.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runner } from 'node-pg-migrate';
import { beforeEach, describe, expect, it } from 'vitest';
import { parseManifest, type Manifest } from '../../src/config/manifest.js';
import { generateMigrations } from '../../src/migrate/generate.js';
import { MIGRATIONS_TABLE } from '../../src/migrate/migrations-table.js';
import { runMigrate } from '../../src/migrate/runner.js';
import { useTestDatabase } from '../support/database.js';
import { useTempDirs } from './support.js';

const manifest: Manifest = parseManifest({
  schema: 'app',
  state_schema: 'app_state',
  tenant: { table: 'tenants', key: 'id', column: 'tenant_id', setting: 'app.tenant_id' },
  roles: { app: ['app_user'] },
  tables: { items: {} },
});

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

describe('the migrations table, shared with node-pg-migrate', () => {
  const db = useTestDatabase();
  const tempDir = useTempDirs();

  /** node-pg-migrate's own runner on the same directory and table; `dryRun` lists what it would run. */
  const theirs = (dir: string, direction: 'up' | 'down', more: { count?: number; dryRun?: boolean } = {}) =>
    runner({
      databaseUrl: db().url,
      dir,
      migrationsTable: MIGRATIONS_TABLE,
      migrationsSchema: manifest.stateSchema,
      createMigrationsSchema: true,
      direction,
      checkOrder: true,
      ignorePattern: '\\..*|.*(?<!\\.sql)',
      logger: quiet,
      ...more,
    }).then((ran) => ran.map((m) => m.name));
  const ours = (dir: string, direction: 'up' | 'down', count?: number) =>
    runMigrate({ databaseUrl: db().url, manifest, migrationsDir: dir, direction, count });

  beforeEach(async () => {
    await db().client.query(`DROP SCHEMA IF EXISTS app CASCADE; DROP SCHEMA IF EXISTS app_state CASCADE;
      CREATE SCHEMA app;
      CREATE TABLE app.tenants (id int PRIMARY KEY);
      INSERT INTO app.tenants VALUES (1), (2);
      CREATE TABLE app.items (id serial PRIMARY KEY, name text);`);
  });

  it('a directory migrated by crm-tenancy is up to date for node-pg-migrate, file by file', async () => {
    const dir = await tempDir();
    const g = await generateMigrations({ client: db().client, manifest, migrationsDir: dir, policiesDir: await tempDir() });
    const names = g.files.map((f) => f.name);
    expect(names.length).toBeGreaterThan(2);

    expect((await ours(dir, 'up', 2)).applied.map((a) => a.name)).toEqual(names.slice(0, 2));
    expect(await theirs(dir, 'up', { dryRun: true })).toEqual(names.slice(2));
    expect(await theirs(dir, 'down', { dryRun: true })).toEqual([names[1]]);

    expect((await ours(dir, 'up')).exitCode).toBe(0);
    expect(await theirs(dir, 'up', { dryRun: true })).toEqual([]);
    expect(await theirs(dir, 'down', { dryRun: true, count: 2 })).toEqual(names.slice(-2).reverse());

    expect((await ours(dir, 'down', names.length)).applied).toHaveLength(names.length);
    expect(await theirs(dir, 'up', { dryRun: true })).toEqual(names);
  });

  it('what node-pg-migrate ran, crm-tenancy sees as run (and the other way round)', async () => {
    const dir = path.join(await tempDir(), 'migrations');
    await mkdir(dir);
    await writeFile(path.join(dir, '0001_widgets.sql'), `-- Up Migration\nCREATE TABLE app.widgets (id int PRIMARY KEY);\n-- Down Migration\nDROP TABLE app.widgets;\n`);
    await writeFile(path.join(dir, '0002_widget-color.sql'), `-- Up Migration\nALTER TABLE app.widgets ADD COLUMN color text;\n-- Down Migration\nALTER TABLE app.widgets DROP COLUMN color;\n`);
    const exists = async (reg: string) => (await db().client.query(`SELECT to_regclass($1) IS NOT NULL AS ok`, [reg])).rows[0].ok;
    const hasColor = async () =>
      (await db().client.query(`SELECT count(*)::int AS n FROM pg_attribute WHERE attrelid = to_regclass('app.widgets') AND attname = 'color'`)).rows[0].n === 1;

    // node-pg-migrate runs the first file (and creates the table); crm-tenancy runs only the second.
    expect(await theirs(dir, 'up', { count: 1 })).toEqual(['0001_widgets']);
    const up = await ours(dir, 'up');
    expect(up.applied.map((a) => a.name)).toEqual(['0002_widget-color']);
    expect(up.pending).toEqual([]);
    expect(await hasColor()).toBe(true);

    // node-pg-migrate reverts what crm-tenancy ran; crm-tenancy reverts what node-pg-migrate ran.
    expect(await theirs(dir, 'down', { count: 1 })).toEqual(['0002_widget-color']);
    expect(await hasColor()).toBe(false);
    const down = await ours(dir, 'down');
    expect(down.applied.map((a) => a.name)).toEqual(['0001_widgets']);
    expect(await exists('app.widgets')).toBe(false);
    expect(await theirs(dir, 'up', { dryRun: true })).toEqual(['0001_widgets', '0002_widget-color']);

    // Both refuse a file slipped in before one that has run (node-pg-migrate's checkOrder), running nothing.
    expect((await ours(dir, 'up', 1)).applied.map((a) => a.name)).toEqual(['0001_widgets']);
    await writeFile(path.join(dir, '0001_aardvarks.sql'), `-- Up Migration\nCREATE TABLE app.aardvarks (id int);\n-- Down Migration\nDROP TABLE app.aardvarks;\n`);
    await expect(ours(dir, 'up')).rejects.toMatchObject({ code: 'usage', message: expect.stringContaining('0001_aardvarks has not run but comes before 0001_widgets') });
    await expect(theirs(dir, 'up', { dryRun: true })).rejects.toThrow(/Not run migration 0001_aardvarks is preceding already run migration 0001_widgets/);
    expect(await exists('app.aardvarks')).toBe(false);
    expect(await hasColor()).toBe(false);
  });
});

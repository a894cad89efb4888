// lock_timeout retries, a lock held forever, two migrates at once, and an INVALID index leftover.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { parseManifest, type Manifest } from '../../src/config/manifest.js';
import { TenancyError } from '../../src/errors.js';
import { memoryLogger } from '../../src/logger.js';
import { generateMigrations } from '../../src/migrate/generate.js';
import { releaseMigrateLock, runMigrate, tryMigrateLock } from '../../src/migrate/runner.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { useTempDirs } from './support.js';

const raw = {
  schema: 'app',
  state_schema: 'app_state',
  tenant: { table: 'tenants', key: 'id', column: 'tenant_id', setting: 'app.tenant_id' },
  roles: { app: ['app_user'] },
  tables: { items: {}, notes: { unique: [['title']] } },
};
const manifest: Manifest = parseManifest(raw);

describe('migrate and locks', () => {
  const db = useTestDatabase();
  const tempDir = useTempDirs();
  let dir: string;
  let config: string;

  beforeEach(async () => {
    const c = db().client;
    await c.query(`DROP SCHEMA IF EXISTS app CASCADE; DROP SCHEMA IF EXISTS app_state CASCADE;
      CREATE SCHEMA app;
      CREATE TABLE app.tenants (id int PRIMARY KEY);
      INSERT INTO app.tenants VALUES (1), (2);
      CREATE TABLE app.items (id serial PRIMARY KEY, name text);
      CREATE TABLE app.notes (id serial PRIMARY KEY, tenant_id int, title text);
      INSERT INTO app.notes (tenant_id, title) SELECT 1 + i % 2, 'n' || i FROM generate_series(1, 50) i;`);
    dir = await tempDir();
    config = path.join(dir, 'tenancy.json.yaml');
    await writeFile(config, JSON.stringify(raw));
  });

  it('retries a statement that hits lock_timeout, logging each retry, and succeeds once the lock is gone', async () => {
    await generateMigrations({ client: db().client, manifest, migrationsDir: dir, policiesDir: await tempDir() });
    const holder = await db().connect();
    await holder.query(`BEGIN; LOCK TABLE app.items IN ACCESS SHARE MODE`);
    setTimeout(() => void holder.query('COMMIT'), 1200);
    const logger = memoryLogger();
    const r = await runMigrate({
      databaseUrl: db().url,
      manifest,
      migrationsDir: dir,
      direction: 'up',
      count: 1,
      lockTimeoutMs: 150,
      retryBaseDelayMs: 100,
      retries: 12,
      logger,
    });
    expect(r.exitCode).toBe(0);
    expect(r.applied[0].retries).toBeGreaterThan(0);
    const retries = logger.lines.filter((l) => l.level === 'warn' && /lock_timeout \(attempt \d+\/13\), retrying in \d+ ms/.test(l.message));
    expect(retries.length).toBe(r.applied[0].retries);
    expect(retries[0].message).toContain('ALTER TABLE "app"."items"');
    const col = await db().client.query(`SELECT 1 FROM pg_attribute WHERE attrelid = 'app.items'::regclass AND attname = 'tenant_id'`);
    expect(col.rowCount).toBe(1);
  });

  it('gives up after N retries with exit 1 when the lock is held forever, with nothing half-applied', async () => {
    await generateMigrations({ client: db().client, manifest, migrationsDir: dir, policiesDir: await tempDir() });
    const holder = await db().connect();
    await holder.query(`BEGIN; LOCK TABLE app.items IN ACCESS SHARE MODE`);
    const r = await runCli(['migrate', '--config', config, '--database-url', db().url, '--migrations-dir', dir, '--lock-timeout', '100', '--retries', '2']);
    await holder.query('COMMIT');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/could not get its lock after 3 attempts/);
    expect(r.stderr.match(/lock_timeout \(attempt \d\/3\)/g)).toHaveLength(2);
    // items is the first table: its transaction never committed, and no migration is recorded.
    const col = await db().client.query(`SELECT 1 FROM pg_attribute WHERE attrelid = 'app.items'::regclass AND attname = 'tenant_id'`);
    expect(col.rowCount).toBe(0);
    const recorded = await db().client.query(`SELECT count(*)::int AS n FROM app_state.pgmigrations`);
    expect(recorded.rows[0].n).toBe(0);
    // Once the lock is free, the same command completes the expand and index phases.
    const again = await runMigrate({ databaseUrl: db().url, manifest, migrationsDir: dir, direction: 'up', count: 2 });
    expect(again.applied.map((a) => a.phase)).toEqual(['expand', 'index']);
  });

  it('refuses a second concurrent migrate with exit 2, naming the holder', async () => {
    await generateMigrations({ client: db().client, manifest, migrationsDir: dir, policiesDir: await tempDir() });
    const other = await db().connect();
    await other.query(`SET application_name = 'dba-console (migrate)'`);
    expect(await tryMigrateLock(other, manifest.stateSchema)).toBeNull();
    const pid = (await other.query(`SELECT pg_backend_pid() AS pid`)).rows[0].pid;
    const r = await runCli(['migrate', '--config', config, '--database-url', db().url, '--migrations-dir', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`pid ${pid}`);
    expect(r.stderr).toContain('dba-console (migrate)');
    expect(r.stderr).toMatch(/user postgres/);
    expect(r.stderr).toMatch(/since \d{4}-\d\d-\d\dT/);
    await expect(runMigrate({ databaseUrl: db().url, manifest, migrationsDir: dir, direction: 'up' })).rejects.toMatchObject({
      code: 'locked',
      exitCode: 2,
    } satisfies Partial<TenancyError>);
    await releaseMigrateLock(other, manifest.stateSchema);
    const ok = await runMigrate({ databaseUrl: db().url, manifest, migrationsDir: dir, direction: 'up', count: 1 });
    expect(ok.applied).toHaveLength(1);
  });

  it("runs on the caller's client and leaves it open, with its own lock_timeout and statement_timeout, lock released", async () => {
    await generateMigrations({ client: db().client, manifest, migrationsDir: dir, policiesDir: await tempDir() });
    const own = await db().connect();
    await own.query(`SET lock_timeout = '7s'; SET statement_timeout = '9s'`);
    const kinds = new Set<string>();
    const r = await runMigrate({ client: own, manifest, migrationsDir: dir, direction: 'up', count: 2, lockTimeoutMs: 300, onProgress: (e) => kinds.add(e.kind) });
    expect(r.applied.map((a) => a.phase)).toEqual(['expand', 'index']);
    expect(kinds.has('migrate-file')).toBe(true);
    const settings = await own.query(`SELECT current_setting('lock_timeout') AS l, current_setting('statement_timeout') AS s`);
    expect(settings.rows[0]).toEqual({ l: '7s', s: '9s' });
    expect(await tryMigrateLock(db().client, manifest.stateSchema)).toBeNull();
    await releaseMigrateLock(db().client, manifest.stateSchema);
  });

  it('rebuilds an index whose concurrent build hit lock_timeout waiting for an old snapshot', async () => {
    await generateMigrations({ client: db().client, manifest, migrationsDir: dir, policiesDir: await tempDir() });
    await runMigrate({ databaseUrl: db().url, manifest, migrationsDir: dir, direction: 'up', count: 1 });
    // An open REPEATABLE READ transaction: CREATE INDEX CONCURRENTLY waits for its snapshot to go away.
    const reader = await db().connect();
    await reader.query(`BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM app.tenants`);
    setTimeout(() => void reader.query('COMMIT'), 1000);
    const logger = memoryLogger();
    const r = await runMigrate({
      databaseUrl: db().url,
      manifest,
      migrationsDir: dir,
      direction: 'up',
      count: 1,
      lockTimeoutMs: 150,
      retryBaseDelayMs: 100,
      retries: 15,
      logger,
    });
    expect(r.applied.map((a) => a.phase)).toEqual(['index']);
    expect(r.applied[0].retries).toBeGreaterThan(0);
    expect(logger.lines.some((l) => /dropping the INVALID index "app"\."\w+_tenant_id_idx" left by the interrupted build/.test(l.message))).toBe(true);
    const invalid = await db().client.query(`SELECT count(*)::int AS n FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'app'::regnamespace AND NOT i.indisvalid`);
    expect(invalid.rows[0].n).toBe(0);
  });

  it('drops an INVALID index left by a failed concurrent build and rebuilds it', async () => {
    const c = db().client;
    // A unique build fails on the duplicates and leaves an INVALID index under the name generate would use.
    await expect(c.query(`CREATE UNIQUE INDEX CONCURRENTLY notes_tenant_id_idx ON app.notes (tenant_id)`)).rejects.toThrow(/could not create unique index/);
    const invalid = await c.query(`SELECT indisvalid FROM pg_index WHERE indexrelid = 'app.notes_tenant_id_idx'::regclass`);
    expect(invalid.rows[0].indisvalid).toBe(false);
    const g = await generateMigrations({ client: c, manifest, migrationsDir: dir, policiesDir: await tempDir() });
    expect(g.files.find((f) => f.phase === 'index')?.steps).toContain('index:notes');
    const events: string[] = [];
    const r = await runMigrate({ databaseUrl: db().url, manifest, migrationsDir: dir, direction: 'up', count: 2, onProgress: (e) => events.push(e.task) });
    expect(r.exitCode).toBe(0);
    expect(events).toContain('0002_tenancy-index');
    const rebuilt = await c.query(`SELECT indisvalid, indisunique FROM pg_index WHERE indexrelid = 'app.notes_tenant_id_idx'::regclass`);
    expect(rebuilt.rows[0]).toEqual({ indisvalid: true, indisunique: false });
    const leftovers = await c.query(`SELECT count(*)::int AS n FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'app'::regnamespace AND NOT i.indisvalid`);
    expect(leftovers.rows[0].n).toBe(0);
  });
});

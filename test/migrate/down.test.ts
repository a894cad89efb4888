// migrate down: every refusal is computed before anything is reverted, and an archive that fails
// ends its run `failed` (never `running`) with nothing dropped.
import { beforeEach, describe, expect, it } from 'vitest';
import { parseManifest, type Manifest } from '../../src/config/manifest.js';
import { generateMigrations } from '../../src/migrate/generate.js';
import { runMigrate } from '../../src/migrate/runner.js';
import { useTestDatabase } from '../support/database.js';
import { snapshot, useTempDirs } from './support.js';

const manifest: Manifest = parseManifest({
  schema: 'app',
  state_schema: 'app_state',
  tenant: { table: 'tenants', key: 'id', column: 'tenant_id', setting: 'app.tenant_id' },
  roles: { app: ['app_user'] },
  tables: { items: {} },
});

describe('migrate down', () => {
  const db = useTestDatabase();
  const tempDir = useTempDirs();
  let dir: string;

  const migrate = (direction: 'up' | 'down', more: { count?: number; force?: boolean } = {}) =>
    runMigrate({ databaseUrl: db().url, manifest, migrationsDir: dir, direction, ...more });
  const tenantColumn = async () =>
    (await db().client.query(`SELECT count(*)::int AS n FROM pg_attribute WHERE attrelid = 'app.items'::regclass AND attname = 'tenant_id' AND NOT attisdropped`)).rows[0].n;
  const recorded = async () => (await db().client.query(`SELECT name FROM app_state.pgmigrations ORDER BY run_on, id`)).rows.map((r) => r.name);

  beforeEach(async () => {
    const c = db().client;
    await c.query(`DROP SCHEMA IF EXISTS app CASCADE; DROP SCHEMA IF EXISTS app_state CASCADE;
      CREATE SCHEMA app;
      CREATE TABLE app.tenants (id int PRIMARY KEY);
      INSERT INTO app.tenants VALUES (1), (2);
      CREATE TABLE app.items (id serial PRIMARY KEY, name text);
      INSERT INTO app.items (name) SELECT 'i' || i FROM generate_series(1, 20) i;`);
    dir = await tempDir();
    await generateMigrations({ client: c, manifest, migrationsDir: dir, policiesDir: await tempDir() });
    // The expand phase adds items.tenant_id; give every row a tenant so the later phases may run.
    expect((await migrate('up', { count: 1 })).exitCode).toBe(0);
    await c.query(`UPDATE app.items SET tenant_id = 1 + id % 2`);
  });

  it('refuses --count N before reverting any of the N when one would drop tenant values; reverts the others without refusal', async () => {
    const up = await migrate('up');
    expect(up.exitCode).toBe(0);
    const all = await recorded();
    expect(all.length).toBeGreaterThan(1);
    const before = await snapshot(db().client, ['app'], manifest.stateSchema);

    const refused = await migrate('down', { count: all.length });
    expect(refused.exitCode).toBe(1);
    expect(refused.applied).toEqual([]);
    expect(refused.refused.map((r) => [r.table, r.problem, r.count])).toEqual([['items', 'tenant-values', 20]]);
    // Nothing changed: catalog, migrations table, no lock left behind.
    expect(await snapshot(db().client, ['app'], manifest.stateSchema)).toBe(before);

    // Every file but the expand drops no tenant column: those revert without a refusal.
    const others = await migrate('down', { count: all.length - 1 });
    expect(others.exitCode).toBe(0);
    expect(others.refused).toEqual([]);
    expect(others.applied.map((a) => a.name)).toEqual(all.slice(1).reverse());
    expect(await recorded()).toEqual(all.slice(0, 1));
    expect(await tenantColumn()).toBe(1);

    // With --force, the last one archives the values, then drops the column.
    const forced = await migrate('down', { force: true });
    expect(forced.exitCode).toBe(0);
    expect(forced.archived.map((a) => [a.table, a.column, a.rows])).toEqual([['items', 'tenant_id', 20]]);
    expect(await tenantColumn()).toBe(0);
    expect(await recorded()).toEqual([]);
    const run = await db().client.query(`SELECT status FROM app_state.runs WHERE id = $1`, [forced.archived[0].runId]);
    expect(run.rows[0].status).toBe('done');
  });

  it('ends the run `failed` with the error when archiving fails, and drops nothing; the same command works once fixed', async () => {
    const c = db().client;
    // A planted defect: the archive table rejects every row.
    await c.query(`CREATE FUNCTION app_state.reject() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the archive is broken'; END $$;
                   CREATE TRIGGER reject BEFORE INSERT ON app_state.migrate_archive FOR EACH ROW EXECUTE FUNCTION app_state.reject()`);
    await expect(migrate('down', { force: true })).rejects.toThrow(/the archive is broken/);
    const runs = await c.query(`SELECT status, summary->>'error' AS error FROM app_state.runs WHERE command = 'migrate-down'`);
    expect(runs.rows).toHaveLength(1);
    expect(runs.rows[0].status).toBe('failed');
    expect(runs.rows[0].error).toMatch(/the archive is broken/);
    expect(await tenantColumn()).toBe(1);
    expect((await c.query(`SELECT count(*)::int AS n FROM app.items WHERE tenant_id IS NOT NULL`)).rows[0].n).toBe(20);
    expect((await c.query(`SELECT count(*)::int AS n FROM app_state.migrate_archive`)).rows[0].n).toBe(0);
    expect(await recorded()).toHaveLength(1);

    await c.query(`DROP TRIGGER reject ON app_state.migrate_archive`);
    const again = await migrate('down', { force: true });
    expect(again.archived.map((a) => a.rows)).toEqual([20]);
    expect(await tenantColumn()).toBe(0);
    const statuses = await c.query(`SELECT status FROM app_state.runs WHERE command = 'migrate-down' ORDER BY started_at`);
    expect(statuses.rows.map((r) => r.status)).toEqual(['failed', 'done']);
  });
});

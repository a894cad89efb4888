// Schemas the toolkit has never seen: organizations/org_id uuid, and bigint agencies with hostile names.
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../src/config/manifest.js';
import { ident, qualified } from '../../src/db/quote.js';
import { generateMigrations } from '../../src/migrate/generate.js';
import { runMigrate } from '../../src/migrate/runner.js';
import { migrationStatus } from '../../src/migrate/status.js';
import { createHostileSchema, createOrgSchema, HOSTILE } from '../fixtures/schemas.js';
import { useTestDatabase } from '../support/database.js';
import { fillNullTenants } from './fix-data.js';
import { squawk, useTempDirs } from './support.js';

describe('generate → migrate on schemas never seen before', () => {
  const db = useTestDatabase();
  const tempDir = useTempDirs();

  it('organizations / org_id uuid, NULLs three foreign-key hops deep', async () => {
    const c = db().client;
    await createOrgSchema(c, 'saas');
    await c.query(`
      INSERT INTO saas.organizations (id, name) VALUES ('00000000-0000-0000-0000-00000000000a', 'A'), ('00000000-0000-0000-0000-00000000000b', 'B');
      INSERT INTO saas.members (org_id, email) VALUES ('00000000-0000-0000-0000-00000000000a', 'a@x'), ('00000000-0000-0000-0000-00000000000b', 'b@x'), ('00000000-0000-0000-0000-00000000000b', 'b@x');
      INSERT INTO saas.projects (org_id, owner_id, name) VALUES ('00000000-0000-0000-0000-00000000000a', 1, 'p1'), ('00000000-0000-0000-0000-00000000000b', 2, 'p2');
      INSERT INTO saas.tasks (project_id, title) VALUES (1, 't1'), (2, 't2'), (2, 't3');
      INSERT INTO saas.comments (task_id, body) VALUES (1, 'c1'), (3, 'c2');`);
    const manifest = parseManifest({
      schema: 'saas',
      tenant: { table: 'organizations', key: 'id', column: 'org_id', setting: 'app.org', composite_keys: true },
      roles: { app: ['saas_app'] },
      tables: { members: { unique: [['email']] }, projects: { backfill: ['owner_id'] }, tasks: { backfill: ['project_id'] }, comments: { backfill: ['task_id'] } },
      exempt: { countries: 'global lookup', feature_flags: 'global switches' },
    });
    const dir = await tempDir();
    const g = await generateMigrations({ client: c, manifest, migrationsDir: dir, policiesDir: await tempDir() });
    expect(g.steps.filter((s) => s.kind === 'add-column').map((s) => s.table)).toEqual(['tasks', 'comments']);
    expect((await squawk(g.files.map((f) => f.file))).code).toBe(0);

    const first = await runMigrate({ databaseUrl: db().url, manifest, migrationsDir: dir, direction: 'up' });
    expect(first.exitCode).toBe(1);
    expect(first.refused.map((r) => [r.table, r.problem, r.count])).toEqual([
      ['members', 'duplicate', 1],
      ['tasks', 'null-tenant', 3],
      ['comments', 'null-tenant', 2],
    ]);
    const type = await c.query(`SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute WHERE attrelid = 'saas.comments'::regclass AND attname = 'org_id'`);
    expect(type.rows[0].t).toBe('uuid');

    await fillNullTenants(c, manifest);
    await c.query(`DELETE FROM saas.members WHERE id = 3`);
    const second = await runMigrate({ databaseUrl: db().url, manifest, migrationsDir: dir, direction: 'up' });
    expect(second.refused).toEqual([]);
    expect(second.exitCode).toBe(0);
    const status = await migrationStatus({ client: c, manifest, migrationsDir: dir });
    expect(status.schemaComplete).toBe(true);
    const nulls = await c.query(`SELECT count(*)::int AS n FROM saas.comments WHERE org_id IS NULL`);
    expect(nulls.rows[0].n).toBe(0);
    // comments → tasks is now tenant-scoped: a comment cannot point at another organization's task.
    await expect(
      c.query(`INSERT INTO saas.comments (org_id, task_id, body) VALUES ('00000000-0000-0000-0000-00000000000a', 3, 'x')`),
    ).rejects.toThrow(/foreign key/);
    expect((await generateMigrations({ client: c, manifest, migrationsDir: dir, policiesDir: await tempDir() })).files).toEqual([]);
  });

  it('bigint agencies with quotes, dots, semicolons, unicode and 63-byte names', async () => {
    const c = db().client;
    await createHostileSchema(c);
    const h = HOSTILE;
    const child = qualified(h.schema, h.child);
    await c.query(`INSERT INTO ${qualified(h.schema, h.tenant)} VALUES (1, 'one'), (2, 'two')`);
    await c.query(`INSERT INTO ${child} (id, ${ident(h.tenantColumn)}, name) VALUES (10, 1, 'a'), (20, 2, 'b')`);
    await c.query(`INSERT INTO ${qualified(h.schema, h.grandchild)} (id, client_id) VALUES (100, 10), (200, 20), (300, 20)`);
    const manifest = parseManifest({
      schema: h.schema,
      state_schema: 'crmt state',
      tenant: { table: h.tenant, key: 'id', column: h.tenantColumn, setting: 'app.agency_id', composite_keys: true },
      roles: { app: ['agency_app'] },
      tables: { [h.child]: { unique: [['name']] }, [h.grandchild]: { backfill: ['client_id'] } },
      exempt: { "lookup's": 'global lookup' },
    });
    const dir = await tempDir();
    const g = await generateMigrations({ client: c, manifest, migrationsDir: dir, policiesDir: await tempDir() });
    expect([...new Set(g.files.map((f) => f.phase))]).toEqual(['expand', 'index', 'validate', 'composite']);
    expect((await squawk(g.files.map((f) => f.file))).code).toBe(0);
    const first = await runMigrate({ databaseUrl: db().url, manifest, migrationsDir: dir, direction: 'up' });
    expect(first.refused.map((r) => [r.table, r.problem, r.count])).toEqual([[h.grandchild, 'null-tenant', 3]]);
    await fillNullTenants(c, manifest);
    const second = await runMigrate({ databaseUrl: db().url, manifest, migrationsDir: dir, direction: 'up' });
    expect(second.exitCode).toBe(0);
    const status = await migrationStatus({ client: c, manifest, migrationsDir: dir });
    expect(status.tables.map((t) => [t.table, t.notNull, t.fkValidated, t.index, t.compositeKeys])).toEqual([
      [h.child, true, true, true, true],
      [h.grandchild, true, true, true, true],
    ]);
    // Every new name fits in 63 bytes (PostgreSQL would silently truncate otherwise).
    const names = await c.query(`SELECT conname::text AS n FROM pg_constraint WHERE connamespace = to_regnamespace($1)
                                 UNION ALL SELECT relname::text FROM pg_class WHERE relnamespace = to_regnamespace($1)`, [ident(h.schema)]);
    expect(names.rows.every((r) => Buffer.byteLength(r.n) <= 63)).toBe(true);
    expect((await generateMigrations({ client: c, manifest, migrationsDir: dir, policiesDir: await tempDir() })).files).toEqual([]);
  });
});

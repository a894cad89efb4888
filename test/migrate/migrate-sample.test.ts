// migrate end to end on the sample CRM: refusal with counts, fixes by plain SQL, completion, dry run,
// status, idempotent generate, a new table, and down (refused, then archived with --force).
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadManifest, type Manifest } from '../../src/config/manifest.js';
import { generateMigrations } from '../../src/migrate/generate.js';
import { runMigrate } from '../../src/migrate/runner.js';
import { migrationStatus } from '../../src/migrate/status.js';
import { repoRoot, runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { dedupeTwilioSettings, detachCrossTenant, fillNullTenants } from './fix-data.js';
import { snapshot, useTempDirs } from './support.js';

describe('migrate on the sample CRM', () => {
  const db = useTestDatabase({ sample: true });
  const tempDir = useTempDirs();
  const config = path.join(repoRoot, 'tenancy.yaml');

  it('refuses at validate while NULLs remain, completes once the data is fixed, and undoes without losing data', async () => {
    const c = db().client;
    const manifest = await loadManifest(config);
    const dir = await tempDir();
    const generated = await generateMigrations({ client: c, manifest, migrationsDir: dir, policiesDir: await tempDir() });
    const names = generated.files.map((f) => f.name);
    // The composite phase: one file per referenced table.
    const composite = names.filter((n) => n.includes('composite'));
    expect(composite.length).toBeGreaterThan(1);
    expect(names.slice(0, 3)).toEqual(['0001_tenancy-expand', '0002_tenancy-index', '0003_tenancy-validate']);
    expect(names[3]).toMatch(/^0004_tenancy-composite(-1)?$/);

    // A dry run on the untouched database: prints every file's SQL, changes nothing (not even the state schema).
    const before = await snapshot(c, ['public'], manifest.stateSchema);
    const dry = await runMigrate({ databaseUrl: db().url, manifest, migrationsDir: dir, direction: 'up', dryRun: true, lockTimeoutMs: 250 });
    expect(await snapshot(c, ['public'], manifest.stateSchema)).toBe(before);
    expect(dry.applied.map((a) => a.name)).toEqual(names);
    expect(dry.sql).toContain(`SET lock_timeout = '250ms';`);
    expect(dry.sql).toContain('CREATE INDEX CONCURRENTLY IF NOT EXISTS "twilio_settings_company_id_idx"');
    expect(dry.sql).toContain(`INSERT INTO "crm_tenancy"."pgmigrations" (name, run_on) VALUES ('${composite.at(-1)}', NOW());`);

    const refused = await runCli(['migrate', '--config', config, '--database-url', db().url, '--migrations-dir', dir, '--json']);
    expect(refused.code).toBe(1);
    const r1 = JSON.parse(refused.stdout);
    expect(r1.applied.map((a: { name: string }) => a.name)).toEqual(['0001_tenancy-expand', '0002_tenancy-index']);
    const counts = Object.fromEntries(r1.refused.map((x: { table: string; problem: string; count: number }) => [`${x.problem} ${x.table}`, x.count]));
    expect(counts).toEqual({
      'null-tenant phone_numbers': 1,
      'null-tenant twilio_settings': 1,
      'null-tenant activities': 3,
      'null-tenant documents': 2,
      'null-tenant document_signatures': 2,
      'null-tenant workflow_executions': 5,
      'null-tenant notifications': 2,
      'null-tenant bulk_email_campaigns': 2,
      'null-tenant email_campaigns': 4,
      'null-tenant performance_alerts': 6,
      'null-tenant user_conversations': 10,
      'duplicate twilio_settings': 1,
      'cross-tenant deals': 2,
      'cross-tenant activities': 1,
      'cross-tenant quotes': 1,
    });
    // (the CLI masks the connection password in its output; the embedded server's is "crm-tenancy")
    expect(r1.refused.find((x: { table: string }) => x.table === 'activities').fix).toMatch(/^(crm-tenancy|\*\*\*) backfill --table activities$/);
    expect(r1.refused.find((x: { problem: string }) => x.problem === 'duplicate').fix).toMatch(/ dedupe --table twilio_settings$/);
    expect(r1.refused.find((x: { problem: string }) => x.problem === 'cross-tenant').fix).toMatch(/ backfill --detach-cross-tenant$/);
    // Nothing of the validate phase ran: still nullable.
    const nullable = await c.query(`SELECT attnotnull FROM pg_attribute WHERE attrelid = 'public.deals'::regclass AND attname = 'company_id'`);
    expect(nullable.rows[0].attnotnull).toBe(false);

    // The expand phase stamps new rows from the session setting already.
    await c.query(`BEGIN; SELECT set_config('app.current_company_id', '2', true);
                   INSERT INTO performance_alerts (user_id, metric, threshold) VALUES (NULL, 'stamped', 1); COMMIT`);
    expect((await c.query(`SELECT company_id FROM performance_alerts WHERE metric = 'stamped'`)).rows[0].company_id).toBe(2);

    // Fix the data by plain SQL (what backfill and dedupe do), then the same migrate completes.
    await fillNullTenants(c, manifest);
    await dedupeTwilioSettings(c);
    expect(await detachCrossTenant(c, manifest)).toBe(4);
    const beforeDry = await snapshot(c, ['public'], manifest.stateSchema);
    const dry2 = await runMigrate({ databaseUrl: db().url, manifest, migrationsDir: dir, direction: 'up', dryRun: true });
    expect(dry2.applied.map((a) => a.name)).toEqual(['0003_tenancy-validate', ...composite]);
    expect(await snapshot(c, ['public'], manifest.stateSchema)).toBe(beforeDry);

    const done = await runCli(['migrate', 'up', '--config', config, '--database-url', db().url, '--migrations-dir', dir]);
    expect(done.stderr).toContain('migrations complete');
    expect(done.code).toBe(0);

    const cols = await c.query(`SELECT c.relname, a.attnotnull FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                                 WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND a.attname = 'company_id'`);
    expect(cols.rows).toHaveLength(27);
    expect(cols.rows.filter((r) => !r.attnotnull)).toEqual([]);
    const fks = await c.query(`SELECT conrelid::regclass::text AS t, conname, convalidated, array_length(conkey, 1) AS n,
                                      pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace`);
    expect(fks.rows.filter((r) => !r.convalidated)).toEqual([]);
    expect(fks.rows.find((r) => r.t === 'deals' && r.def.startsWith('FOREIGN KEY (company_id, contact_id)'))?.def).toBe(
      'FOREIGN KEY (company_id, contact_id) REFERENCES contacts(company_id, id)',
    );
    expect(fks.rows.find((r) => r.t === 'activities' && r.def.includes('(company_id, deal_id)'))?.def).toMatch(/ON DELETE CASCADE$/);
    // No single-column FK between scoped tables is left (users.role_id → roles is exempt and stays).
    const scoped = new Set(manifest.tables.map((t) => t.name));
    const singles = fks.rows.filter((r) => r.n === 1 && scoped.has(r.t) && !r.def.includes('(company_id)') && scoped.has(/REFERENCES (\w+)/.exec(r.def)![1]));
    expect(singles).toEqual([]);
    // PostgreSQL now rejects a cross-tenant reference by itself.
    await expect(c.query(`UPDATE deals SET contact_id = (SELECT id FROM contacts WHERE company_id = 2 LIMIT 1) WHERE company_id = 1`)).rejects.toThrow(/foreign key/);

    const status = await migrationStatus({ client: c, manifest, migrationsDir: dir });
    expect(status.schemaComplete).toBe(true);
    expect(status.migrations.every((m) => m.applied)).toBe(true);
    expect(status.tables.find((t) => t.table === 'twilio_settings')).toMatchObject({ uniqueKeys: true, compositeKeys: true, notNull: true, rls: false });
    const cliStatus = await runCli(['migrate', 'status', '--json', '--config', config, '--database-url', db().url, '--migrations-dir', dir]);
    expect(cliStatus.code).toBe(0);
    expect(JSON.parse(cliStatus.stdout).schemaComplete).toBe(true);

    // Re-running generate after migrate produces nothing.
    const again = await generateMigrations({ client: c, manifest, migrationsDir: dir, policiesDir: await tempDir() });
    expect(again.files).toEqual([]);

    // A table added to the manifest: migrations for that table only.
    await c.query(`CREATE TABLE tags (id serial PRIMARY KEY, contact_id integer REFERENCES contacts (id), name text NOT NULL)`);
    const withTags: Manifest = { ...manifest, tables: [...manifest.tables, { name: 'tags', backfill: ['contact_id'], unique: [], singleton: false, sharedRows: false, polymorphic: [] }] };
    const tags = await generateMigrations({ client: c, manifest: withTags, migrationsDir: dir, policiesDir: await tempDir() });
    const n = names.length;
    const tagNames = ['expand', 'index', 'validate', 'composite'].map((phase, i) => `${String(n + 1 + i).padStart(4, '0')}_tenancy-${phase}`);
    expect(tags.files.map((f) => path.basename(f.file))).toEqual(tagNames.map((x) => `${x}.sql`));
    expect(tags.files.flatMap((f) => f.steps).every((s) => s.split(':')[1] === 'tags')).toBe(true);
    expect(tags.files.flatMap((f) => f.tables)).toEqual(['tags', 'tags', 'tags', 'tags']);
    const tagsRun = await runMigrate({ databaseUrl: db().url, manifest: withTags, migrationsDir: dir, direction: 'up' });
    expect(tagsRun.exitCode).toBe(0);
    expect((await generateMigrations({ client: c, manifest: withTags, migrationsDir: dir, policiesDir: await tempDir() })).files).toEqual([]);

    // down: reverting everything refuses to drop tenant columns holding values, before reverting anything…
    const beforeDown = await snapshot(c, ['public'], manifest.stateSchema);
    const down = await runMigrate({ databaseUrl: db().url, manifest: withTags, migrationsDir: dir, direction: 'down', count: n + 4 });
    expect(down.exitCode).toBe(1);
    expect(down.applied).toEqual([]);
    expect(down.refused.map((x) => [x.table, x.problem, x.count])).toEqual([
      ['email_campaigns', 'tenant-values', 4],
      ['performance_alerts', 'tenant-values', 7],
      ['user_conversations', 'tenant-values', 10],
    ]);
    expect(await snapshot(c, ['public'], manifest.stateSchema)).toBe(beforeDown);
    // …and archives them first with --force, then reverts all eight.
    const forced = await runCli(['migrate', 'down', '--count', String(n + 4), '--force', '--config', config, '--database-url', db().url, '--migrations-dir', dir, '--json']);
    expect(forced.code).toBe(0);
    const f = JSON.parse(forced.stdout);
    expect(f.applied.map((a: { name: string }) => a.name)).toEqual([...names, ...tagNames].reverse());
    expect(f.archived.map((a: { table: string; rows: number }) => [a.table, a.rows])).toEqual([
      ['email_campaigns', 4],
      ['performance_alerts', 7],
      ['user_conversations', 10],
    ]);
    const archive = await c.query(`SELECT row_key, value FROM crm_tenancy.migrate_archive WHERE table_name = 'performance_alerts' ORDER BY (row_key->>'id')::int`);
    expect(archive.rows).toHaveLength(7);
    expect(archive.rows[0].row_key).toHaveProperty('id');
    const run = await c.query(`SELECT status, summary FROM crm_tenancy.runs WHERE id = $1`, [f.archived[0].runId]);
    expect(run.rows[0].status).toBe('done');
    const gone = await c.query(`SELECT count(*)::int AS n FROM pg_attribute WHERE attrelid = 'public.performance_alerts'::regclass AND attname = 'company_id' AND NOT attisdropped`);
    expect(gone.rows[0].n).toBe(0);
    // Bonus: migrate up re-adds the (empty) column; restore puts the archived values back.
    await runMigrate({ databaseUrl: db().url, manifest: withTags, migrationsDir: dir, direction: 'up', count: 1 });
    const restored = await runCli(['migrate', 'restore', f.archived[0].runId, '--config', config, '--database-url', db().url, '--json']);
    expect(restored.code).toBe(0);
    expect(JSON.parse(restored.stdout).restored.map((x: { table: string; rows: number }) => [x.table, x.rows])).toEqual([
      ['email_campaigns', 4],
      ['performance_alerts', 7],
      ['user_conversations', 10],
    ]);
    const back = await c.query(`SELECT count(*)::int AS n FROM performance_alerts WHERE company_id IS NOT NULL`);
    expect(back.rows[0].n).toBe(7);
    const twice = await runCli(['migrate', 'restore', f.archived[0].runId, '--config', config, '--database-url', db().url]);
    expect(twice.code).toBe(1);
    // The columns that existed before keep their data; NOT NULL and composite keys are undone.
    const deals = await c.query(`SELECT count(*)::int AS n FROM deals WHERE company_id IS NOT NULL`);
    expect(deals.rows[0].n).toBe(100);
  });
});

// undo's preflight: after migrate made constraints the restored rows would break (NOT NULL, the
// per-tenant unique key, a composite FK), undo refuses (exit 1, also --dry-run), changes nothing and
// names the constraint, the rows and the `migrate down --count N` to run; after that step back it works.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseManifestText, type Manifest } from '../../src/config/manifest.js';
import { runBackfill } from '../../src/backfill/backfill-runner.js';
import { runDedupe } from '../../src/dedupe/dedupe-runner.js';
import { generateMigrations } from '../../src/migrate/generate.js';
import { runMigrate } from '../../src/migrate/runner.js';
import { undoRun } from '../../src/undo/undo-runner.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { tableChecksums } from '../backfill/helpers.js';
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
  contacts:
    unique: [[email]]
  deals:
    backfill: [contact_id]
`;

describe('undo preflight against today\'s constraints', () => {
  const db = useTestDatabase();
  const tempDir = useTempDirs();
  let manifest: Manifest;
  let dir: string;
  let config: string;
  let backfillRun: string;
  let dedupeRun: string;

  const cli = (...args: string[]) => runCli([...args, '--config', config, '--database-url', db().url, '--migrations-dir', dir]);

  beforeAll(async () => {
    const c = db().client;
    await c.query(`CREATE ROLE app_user NOLOGIN`).catch(() => {});
    await c.query(`
      CREATE SCHEMA app;
      CREATE TABLE app.tenants (id int PRIMARY KEY);
      INSERT INTO app.tenants VALUES (1), (2);
      CREATE TABLE app.contacts (id int PRIMARY KEY, tenant_id int REFERENCES app.tenants, email text, created_at timestamptz DEFAULT now());
      INSERT INTO app.contacts (id, tenant_id, email) VALUES (1, 1, 'a@x'), (2, 1, 'b@x'), (3, 2, 'a@x'), (4, 2, 'c@x'), (5, 1, 'a@x');
      CREATE TABLE app.deals (id int PRIMARY KEY, tenant_id int, contact_id int REFERENCES app.contacts, title text);
      INSERT INTO app.deals (id, contact_id, title) VALUES (1, 1, 'd1'), (2, 2, 'd2'), (3, 3, 'd3'), (4, 4, 'd4');
      INSERT INTO app.deals (id, tenant_id, contact_id, title) VALUES (5, 2, 1, 'cross-tenant');`);
    manifest = parseManifestText(MANIFEST);
    dir = await tempDir();
    config = path.join(await tempDir(), 'tenancy.yaml');
    await writeFile(config, MANIFEST, 'utf8');
    await generateMigrations({ client: c, manifest, migrationsDir: dir, policiesDir: await tempDir() });
    expect((await runMigrate({ databaseUrl: db().url, manifest, migrationsDir: dir, direction: 'up', count: 1 })).exitCode).toBe(0);
    const backfill = await runBackfill({ databaseUrl: db().url, manifest, detachCrossTenant: true });
    backfillRun = backfill.runId!;
    const dedupe = await runDedupe({ databaseUrl: db().url, manifest });
    dedupeRun = dedupe.runId!;
    expect(dedupe.removed).toBe(1);
    const up = await runMigrate({ databaseUrl: db().url, manifest, migrationsDir: dir, direction: 'up' });
    expect(up.refused).toEqual([]);
    expect(up.exitCode).toBe(0);
  });

  it('undo of the dedupe run: refused (exit 1, also --dry-run), nothing changed, names the unique key, the row and the step back', async () => {
    const before = await tableChecksums(db().client, 'app');
    for (const dry of [['--dry-run'], []]) {
      const res = await cli('undo', dedupeRun, ...dry);
      expect(res.code, res.stderr).toBe(1);
      expect(res.stderr).not.toMatch(/duplicate key|violates/);
      expect(res.stderr).toMatch(/app\.contacts: unique contacts_tenant_id_email_key \(made by migration \S+validate, phase validate\): 1 row\(s\), e\.g\. \{"id":\s?5\}/);
      expect(res.stderr).toMatch(/step back first: crm-tenancy migrate down --count \d+ --migrations-dir \S+/);
      expect(await tableChecksums(db().client, 'app')).toEqual(before);
    }
    const json = await cli('undo', dedupeRun, '--json');
    expect(json.code).toBe(1);
    const result = JSON.parse(json.stdout);
    expect(result.ok).toBe(false);
    expect(result.refused.map((v: { kind: string; constraint: string; count: number }) => [v.kind, v.constraint, v.count])).toEqual([
      ['unique', 'contacts_tenant_id_email_key', 1],
    ]);
    const status = await db().client.query(`SELECT status FROM app_state.runs WHERE id = $1`, [dedupeRun]);
    expect(status.rows[0].status).not.toBe('undone');
  });

  it('undo of the backfill run: NOT NULL (validate) and the composite FK (composite) both named; the step back reaches the earliest', async () => {
    const before = await tableChecksums(db().client, 'app');
    const result = await undoRun({ databaseUrl: db().url, manifest, runId: backfillRun, migrationsDir: dir });
    expect(result.ok).toBe(false);
    const found = result.refused.map((v) => [v.table, v.kind, v.kind === 'not-null' ? v.columns[0] : v.constraint, v.count, v.migration?.phase]);
    expect(found).toContainEqual(['app.deals', 'not-null', 'tenant_id', 4, 'validate']);
    const fk = result.refused.find((v) => v.kind === 'foreign-key');
    expect(fk).toMatchObject({ table: 'app.deals', count: 1, samples: [{ id: 5 }], migration: { phase: 'composite' } });
    expect(result.stepBack?.phase).toBe('validate');
    expect(await tableChecksums(db().client, 'app')).toEqual(before);
  });

  it('after the step back it names, both undos restore everything (exit 0)', async () => {
    const refused = await undoRun({ databaseUrl: db().url, manifest, runId: backfillRun, migrationsDir: dir, dryRun: true });
    const down = await cli('migrate', 'down', '--count', String(refused.stepBack!.count));
    expect(down.code, down.stderr).toBe(0);
    const dedupe = await cli('undo', dedupeRun);
    expect(dedupe.code, dedupe.stderr).toBe(0);
    expect(dedupe.stdout).toContain('contacts: 1 removed row re-inserted');
    const backfill = await cli('undo', backfillRun);
    expect(backfill.code, backfill.stderr).toBe(0);
    const deals = await db().client.query(`SELECT id, tenant_id, contact_id FROM app.deals ORDER BY id`);
    expect(deals.rows).toEqual([
      { id: 1, tenant_id: null, contact_id: 1 },
      { id: 2, tenant_id: null, contact_id: 2 },
      { id: 3, tenant_id: null, contact_id: 3 },
      { id: 4, tenant_id: null, contact_id: 4 },
      { id: 5, tenant_id: 2, contact_id: 1 },
    ]);
  });
});

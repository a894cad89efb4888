// `status` on real PostgreSQL: the fresh sample CRM, its progress through generate / migrate, the rolled-out state, and each step broken and fixed.
import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadManifest } from '../../src/config/manifest.js';
import { ident } from '../../src/db/quote.js';
import { generateMigrations } from '../../src/migrate/generate.js';
import { runMigrate } from '../../src/migrate/runner.js';
import { applyPolicies } from '../../src/policies/apply.js';
import { rolloutStatus, type RolloutStatus } from '../../src/status/rollout-status.js';
import { repoRoot, runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { useTempDirs } from '../migrate/support.js';
import { rollOut, type RolledOut } from '../policies/fixture.js';

const at = (s: RolloutStatus, table: string) => {
  const t = s.tables.find((x) => x.table === table);
  if (!t) throw new Error(`no row for ${table}`);
  return t;
};
const stepsOf = (s: RolloutStatus) => Object.fromEntries(s.tables.map((t) => [t.table, t.step]));

describe('status on the fresh sample CRM', () => {
  const db = useTestDatabase({ sample: true });
  const tempDir = useTempDirs();
  const config = path.join(repoRoot, 'tenancy.yaml');

  it('places every table, names the next command, and follows generate and migrate', async () => {
    const c = db().client;
    const manifest = await loadManifest(config);
    const migrationsDir = await tempDir();
    const policiesDir = await tempDir();
    const read = () => rolloutStatus({ client: c, manifest, migrationsDir, policiesDir });

    // Nothing generated yet: the schema steps need `generate` first.
    const fresh = await read();
    expect(fresh.exitCode).toBe(1);
    expect(fresh.done).toBe(false);
    expect(fresh.tables).toHaveLength(28);
    expect(at(fresh, 'email_campaigns')).toMatchObject({
      step: 'column',
      detail: expect.stringMatching(/^no company_id column, no tenant foreign key, no index on company_id/),
      next: `crm-tenancy generate --migrations-dir ${migrationsDir} --policies-dir ${policiesDir}`,
    });
    // activities has its column and index: its NULL tenants are counted, and backfill is next.
    expect(at(fresh, 'activities')).toMatchObject({ step: 'backfill', detail: '3 row(s) with NULL company_id', next: 'crm-tenancy backfill --table activities' });
    expect(at(fresh, 'companies')).toMatchObject({ kind: 'tenant', step: 'rls', detail: expect.stringMatching(/no policy file/) });
    expect(fresh.next).toBe(`crm-tenancy generate --migrations-dir ${migrationsDir} --policies-dir ${policiesDir}`);
    expect(Object.values(fresh.summary).reduce((a, b) => a + b, 0)).toBe(28);
    expect(fresh.summary.done).toBe(0);

    // Generated: the same tables now wait for `migrate` (a pending file provides their steps).
    const written = await generateMigrations({ client: c, manifest, migrationsDir, policiesDir });
    const generated = await read();
    expect(generated.pendingMigrations.slice(0, 3)).toEqual(['0001_tenancy-expand', '0002_tenancy-index', '0003_tenancy-validate']);
    // The composite phase is one file per referenced table: every file generate wrote is pending.
    expect(generated.pendingMigrations).toEqual(written.files.map((f) => path.basename(f.file, '.sql')));
    expect(at(generated, 'email_campaigns')).toMatchObject({ step: 'column', next: `crm-tenancy migrate --migrations-dir ${migrationsDir}` });
    expect(generated.next).toBe(`crm-tenancy migrate --migrations-dir ${migrationsDir}`);

    // migrate: expand and index run, validate is refused (NULLs): every table with NULLs is at backfill,
    // with the count a plain count(*) gives.
    const migrated = await runMigrate({ client: c, manifest, migrationsDir, direction: 'up' });
    expect(migrated.exitCode).toBe(1);
    const afterExpand = await read();
    expect(afterExpand.pendingMigrations).toEqual(generated.pendingMigrations.slice(2));
    const backfill = afterExpand.tables.filter((t) => t.step === 'backfill');
    expect(backfill.map((t) => t.table).sort()).toEqual(
      ['activities', 'bulk_email_campaigns', 'document_signatures', 'documents', 'email_campaigns', 'notifications', 'performance_alerts',
        'phone_numbers', 'twilio_settings', 'user_conversations', 'workflow_executions'].sort(),
    );
    for (const t of backfill) {
      const { rows } = await c.query(`SELECT count(*)::int AS n FROM ${ident(t.table)} WHERE company_id IS NULL`);
      expect(t.facts.nullTenants).toBe(rows[0].n);
      expect(t.next).toBe(`crm-tenancy backfill --table ${t.table}`);
    }
    expect(afterExpand.summary.column).toBe(0);
    expect(afterExpand.next).toBe('crm-tenancy backfill');
    // A table with no NULL left waits for migrate's validate phase, which waits for the backfills.
    expect(at(afterExpand, 'deals')).toMatchObject({
      step: 'validate',
      next: `crm-tenancy migrate --migrations-dir ${migrationsDir}`,
      detail: 'company_id nullable',
      waiting: 'migrate validates every table at once: it refuses while 11 table(s) still need their backfill',
    });
    expect(at(afterExpand, 'activities').waiting).toBe(null);
    expect(at(afterExpand, 'companies').waiting).toMatch(/^policies apply refuses until every scoped table has a NOT NULL company_id/);
    expect(afterExpand.notes).toHaveLength(2);
  });

  it('a table the manifest names but the database lacks is at "table missing", with no command', async () => {
    const manifest = await loadManifest(config);
    const ghost = { ...manifest, tables: [...manifest.tables, { name: 'ghost', backfill: [], unique: [], singleton: false, sharedRows: false, polymorphic: [] }] };
    const s = await rolloutStatus({ client: db().client, manifest: ghost, migrationsDir: await tempDir(), policiesDir: await tempDir() });
    expect(at(s, 'ghost')).toMatchObject({ step: 'missing-table', next: null });
    expect(s.summary['missing-table']).toBe(1);
  });
});

describe('status after the rollout, then each step broken and fixed', () => {
  const db = useTestDatabase({ sample: true });
  const tempDir = useTempDirs();
  let r: RolledOut;
  let migrationsDir: string;
  const read = () => rolloutStatus({ client: db().client, manifest: r.manifest, migrationsDir, policiesDir: r.policiesDir });
  const cli = (...args: string[]) =>
    runCli(['status', '--config', r.manifestFile, '--database-url', db().url, '--migrations-dir', migrationsDir, '--policies-dir', r.policiesDir, ...args]);

  beforeAll(async () => {
    r = await rollOut(db());
    migrationsDir = await tempDir();
    const applied = await applyPolicies({ client: db().client, manifest: r.manifest, policiesDir: r.policiesDir });
    expect(applied.ok).toBe(true);
  });

  it('the fixture leaves out the per-tenant unique keys: status says so, and its next commands finish the job', async () => {
    const before = await read();
    const open = before.tables.filter((t) => t.step !== 'done');
    expect(open.map((t) => [t.table, t.step, t.detail])).toEqual([
      ['users', 'validate', 'per-tenant unique keys missing'],
      ['twilio_settings', 'validate', 'per-tenant unique keys missing'],
    ]);
    expect(before.next).toBe(`crm-tenancy generate --migrations-dir ${migrationsDir} --policies-dir ${r.policiesDir}`);
    await generateMigrations({ client: db().client, manifest: r.manifest, migrationsDir, policiesDir: await tempDir() });
    expect((await read()).next).toBe(`crm-tenancy migrate --migrations-dir ${migrationsDir}`);
    const migrated = await runMigrate({ client: db().client, manifest: r.manifest, migrationsDir, direction: 'up' });
    expect(migrated.exitCode).toBe(0);
  });

  it('every table done: exit 0, no next command; the CLI agrees (table and --json)', async () => {
    const s = await read();
    expect(s.tables.filter((t) => t.step !== 'done')).toEqual([]);
    expect(s).toMatchObject({ done: true, exitCode: 0, next: null });
    expect(s.summary.done).toBe(28);
    const json = await cli('--json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ done: true, exitCode: 0, summary: { done: 28 } });
    const text = await cli();
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^DONE {2}crmt_\w+ \(schema public\): 28\/28 tables done/);
  });

  it('a dropped policy: that table shows "policy drifted" and `policies apply`; exit 1; apply fixes it', async () => {
    const c = db().client;
    await c.query(`DROP POLICY tenant_isolation ON deals`);
    const s = await read();
    expect(s.tables.filter((t) => t.step !== 'done').map((t) => t.table)).toEqual(['deals']);
    expect(at(s, 'deals')).toMatchObject({
      step: 'policy',
      detail: expect.stringMatching(/^policy drifted/),
      next: `crm-tenancy policies apply --policies-dir ${r.policiesDir}`,
    });
    expect(s).toMatchObject({ exitCode: 1, summary: { policy: 1, done: 27 } });
    const text = await cli();
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/IN PROGRESS .*27\/28 tables done · 1 at policy/);
    expect(text.stdout).toMatch(/deals +│ policy +│ policy drifted/);
    expect(text.stdout).toContain(`next: crm-tenancy policies apply --policies-dir ${r.policiesDir} --config ${r.manifestFile}`);
    await applyPolicies({ client: c, manifest: r.manifest, policiesDir: r.policiesDir });
    expect((await read()).done).toBe(true);
  });

  it('an edited policy file: "policy" (changed since applied) until applied', async () => {
    await appendFile(path.join(r.policiesDir, 'contacts.sql'), '\n-- reviewed\n');
    expect(at(await read(), 'contacts')).toMatchObject({ step: 'policy', detail: expect.stringMatching(/changed since it was applied/) });
    await applyPolicies({ client: db().client, manifest: r.manifest, policiesDir: r.policiesDir });
    expect(at(await read(), 'contacts').step).toBe('done');
  });

  it('RLS no longer forced: "rls" until policies apply', async () => {
    await db().client.query(`ALTER TABLE emails NO FORCE ROW LEVEL SECURITY`);
    expect(at(await read(), 'emails')).toMatchObject({ step: 'rls', detail: expect.stringMatching(/not forced/), next: expect.stringMatching(/^crm-tenancy policies apply/) });
    await applyPolicies({ client: db().client, manifest: r.manifest, policiesDir: r.policiesDir });
    expect(at(await read(), 'emails').step).toBe('done');
  });

  it('a composite FK replaced by a single-column one: "composite keys", generate (no pending file); fixed back', async () => {
    const c = db().client;
    const { rows } = await c.query<{ name: string; def: string }>(
      `SELECT conname AS name, pg_get_constraintdef(oid) AS def FROM pg_constraint
        WHERE conrelid = 'quotes'::regclass AND contype = 'f' AND pg_get_constraintdef(oid) LIKE 'FOREIGN KEY (company_id, deal_id)%'`,
    );
    expect(rows).toHaveLength(1);
    await c.query(`ALTER TABLE quotes DROP CONSTRAINT ${ident(rows[0].name)}, ADD FOREIGN KEY (deal_id) REFERENCES deals (id)`);
    expect(at(await read(), 'quotes')).toMatchObject({ step: 'composite', next: `crm-tenancy generate --migrations-dir ${migrationsDir} --policies-dir ${r.policiesDir}` });
    await c.query(`ALTER TABLE quotes DROP CONSTRAINT quotes_deal_id_fkey, ADD CONSTRAINT ${ident(rows[0].name)} ${rows[0].def}`);
    expect(at(await read(), 'quotes').step).toBe('done');
  });

  it('NOT NULL dropped: "validate"; NULL tenants planted: "backfill" with the count; fixed back', async () => {
    const c = db().client;
    await c.query(`ALTER TABLE notifications ALTER COLUMN company_id DROP NOT NULL`);
    expect(at(await read(), 'notifications')).toMatchObject({ step: 'validate', detail: 'company_id nullable' });
    const { rows } = await c.query<{ id: number; company_id: number }>(`SELECT id, company_id FROM notifications ORDER BY id LIMIT 2`);
    await c.query(`UPDATE notifications SET company_id = NULL WHERE id = ANY($1::int[])`, [rows.map((x) => x.id)]);
    expect(at(await read(), 'notifications')).toMatchObject({ step: 'backfill', detail: '2 row(s) with NULL company_id', next: 'crm-tenancy backfill --table notifications' });
    for (const row of rows) await c.query(`UPDATE notifications SET company_id = $1 WHERE id = $2`, [row.company_id, row.id]);
    await c.query(`ALTER TABLE notifications ALTER COLUMN company_id SET NOT NULL`);
    expect((await read()).done).toBe(true);
  });
});

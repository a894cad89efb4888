// dedupe: the sample's duplicate twilio_settings (archived, phone number re-pointed), keep rules, refused groups, hostile names.
import { beforeAll, describe, expect, it } from 'vitest';
import { parseManifest, type Manifest } from '../../src/config/manifest.js';
import { runDedupe } from '../../src/dedupe/dedupe-runner.js';
import { undoRun } from '../../src/undo/undo-runner.js';
import { ident, qualified } from '../../src/db/quote.js';
import { loadSampleCrm } from '../../src/sample/sample-crm.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { addMissingTenantColumns, sampleManifest, sampleManifestText, tableChecksums, writeConfig } from '../backfill/helpers.js';

describe('dedupe on the sample CRM', () => {
  const db = useTestDatabase();
  let manifest: Manifest;

  beforeAll(async () => {
    await loadSampleCrm(db().client, { schema: 'crm' });
    await addMissingTenantColumns(db().client, 'crm');
    manifest = await sampleManifest('crm', 'crm_state');
  });

  it('dry run: shows the twilio_settings group, what is kept and re-pointed, that NULL tenants are not grouped; writes nothing', async () => {
    const before = await tableChecksums(db().client, 'crm');
    const result = await runDedupe({ databaseUrl: db().url, manifest, dryRun: true });
    expect(result.groups).toEqual([
      {
        table: 'twilio_settings',
        kind: 'singleton',
        columns: [],
        tenant: 1,
        values: {},
        kept: { id: 1 },
        removed: [{ id: 2 }],
        repointed: [{ table: 'phone_numbers', constraint: 'phone_numbers_twilio_settings_id_fkey', columns: ['twilio_settings_id'], rows: 1 }],
        status: 'planned',
      },
    ]);
    expect(result.nullTenantRows).toEqual([{ table: 'twilio_settings', rows: 1 }]);
    // phone_numbers.twilio_settings_id has no index: every removed row makes PostgreSQL scan phone_numbers.
    expect(result.unindexedReferences).toEqual([
      { table: 'phone_numbers', references: 'twilio_settings', constraint: 'phone_numbers_twilio_settings_id_fkey', columns: ['twilio_settings_id'] },
    ]);
    expect(result.ok).toBe(false);
    const newest = await runDedupe({ databaseUrl: db().url, manifest, dryRun: true, keep: 'newest' });
    expect(newest.groups[0]).toMatchObject({ kept: { id: 2 }, removed: [{ id: 1 }] });
    expect(await tableChecksums(db().client, 'crm')).toEqual(before);
    const state = await db().client.query(`SELECT 1 FROM pg_namespace WHERE nspname = 'crm_state'`);
    expect(state.rowCount).toBe(0);
  });

  it('keep oldest: row 2 archived (full row) then removed, phone_numbers row 2 re-pointed to row 1; a rerun finds nothing (CLI)', async () => {
    const { rows: original } = await db().client.query(`SELECT to_jsonb(t) AS row FROM crm.twilio_settings t WHERE id = 2`);
    const config = await writeConfig(await sampleManifestText('crm', 'crm_state'));
    const res = await runCli(['dedupe', '--config', config, '--database-url', db().url, '--keep', 'oldest', '--json']);
    expect(res.code).toBe(0);
    const report = JSON.parse(res.stdout);
    expect(report).toMatchObject({ removed: 1, repointed: 1, refused: [] });
    const c = db().client;
    expect((await c.query(`SELECT id FROM crm.twilio_settings WHERE company_id = 1`)).rows).toEqual([{ id: 1 }]);
    expect((await c.query(`SELECT twilio_settings_id FROM crm.phone_numbers WHERE id = 2`)).rows).toEqual([{ twilio_settings_id: 1 }]);
    const archive = await c.query(`SELECT key, kept_key, row_data FROM crm_state.dedupe_archive WHERE run_id = $1`, [report.runId]);
    expect(archive.rows).toEqual([{ key: { id: 2 }, kept_key: { id: 1 }, row_data: original[0].row }]);
    const repoints = await c.query(`SELECT table_name, columns, key, old_values, new_values FROM crm_state.dedupe_repoints WHERE run_id = $1`, [report.runId]);
    expect(repoints.rows).toEqual([{ table_name: 'phone_numbers', columns: ['twilio_settings_id'], key: { id: 2 }, old_values: ['2'], new_values: ['1'] }]);

    const again = await runCli(['dedupe', '--config', config, '--database-url', db().url]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('no duplicate groups');
  });
});

const SCHEMA = 'dé"dupe; s';
const raw = {
  schema: SCHEMA,
  state_schema: 'dedupe state',
  tenant: { table: 'tenants', key: 'id', column: 'tenant id', setting: 'app.tenant' },
  roles: { app: ['dedupe_app'] },
  tables: {
    prefs: { singleton: true },
    'pref links': {},
    'Members.x': { unique: [['e-mail']] },
    notes: {},
  },
};

describe('dedupe on an unseen schema (refusals, keep COLUMN, identity keys, hostile names)', () => {
  const db = useTestDatabase();
  const manifest = parseManifest(raw);
  const t = (name: string) => qualified(SCHEMA, name);
  let original: Record<string, string>;

  beforeAll(async () => {
    const c = db().client;
    await c.query(`CREATE SCHEMA ${ident(SCHEMA)}`);
    await c.query(`CREATE TABLE ${t('tenants')} (id int PRIMARY KEY)`);
    await c.query(`INSERT INTO ${t('tenants')} VALUES (1), (2)`);
    await c.query(`CREATE TABLE ${t('prefs')} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "tenant id" int REFERENCES ${t('tenants')}, theme text, rank int)`);
    await c.query(`INSERT INTO ${t('prefs')} ("tenant id", theme) VALUES (1, 'dark'), (1, 'light'), (2, 'blue')`);
    // Each duplicate pref has its own link, and a link's pref is unique: re-pointing would collide.
    await c.query(
      `CREATE TABLE ${t('pref links')} (id int PRIMARY KEY, "tenant id" int, pref_id bigint UNIQUE REFERENCES ${t('prefs')})`,
    );
    await c.query(`INSERT INTO ${t('pref links')} VALUES (1, 1, 1), (2, 1, 2)`);
    await c.query(`CREATE TABLE ${t('Members.x')} (id int PRIMARY KEY, "tenant id" int, "e-mail" text, rank int)`);
    await c.query(
      `INSERT INTO ${t('Members.x')} VALUES (1, 1, 'a@x', 5), (2, 1, 'a@x', 1), (3, 1, 'a@x', 9), (4, 2, 'a@x', 1), (5, 1, 'b@x', 1), (6, 1, NULL, 1), (7, 1, NULL, 1)`,
    );
    await c.query(`CREATE TABLE ${t('notes')} (id int PRIMARY KEY, "tenant id" int, member bigint REFERENCES ${t('Members.x')})`);
    await c.query(`INSERT INTO ${t('notes')} VALUES (1, 1, 1), (2, 1, 3), (3, 1, 3), (4, 2, 4)`);
    original = await tableChecksums(c, SCHEMA);
  });

  it('could not run with --keep naming a column a deduplicated table lacks (nothing written)', async () => {
    await expect(runDedupe({ databaseUrl: db().url, manifest, keep: 'nope' })).rejects.toThrow(/has no column nope/);
    const state = await db().client.query(`SELECT 1 FROM pg_namespace WHERE nspname = 'dedupe state'`);
    expect(state.rowCount).toBe(0);
  });

  it('refuses a group whose re-pointing would violate a unique constraint; keeps by COLUMN; duplicates are per tenant', async () => {
    const result = await runDedupe({ databaseUrl: db().url, manifest, keep: 'rank' });
    const prefs = result.groups.find((g) => g.table === 'prefs')!;
    expect(prefs.status).toBe('refused');
    expect(prefs.reason).toMatch(/duplicate key|unique/i);
    expect(result.refused).toHaveLength(1);
    expect(result.ok).toBe(false);
    // Refused: nothing of it changed, nothing archived.
    const c = db().client;
    expect((await c.query(`SELECT count(*)::int AS n FROM ${t('prefs')}`)).rows[0].n).toBe(3);

    const members = result.groups.find((g) => g.table === 'Members.x')!;
    expect(members).toMatchObject({ status: 'resolved', tenant: 1, values: { 'e-mail': 'a@x' }, kept: { id: 2 }, removed: [{ id: 1 }, { id: 3 }] });
    expect(result.groups.filter((g) => g.table === 'Members.x')).toHaveLength(1); // tenant 2's a@x and the NULL e-mails are no duplicates
    expect((await c.query(`SELECT id, member FROM ${t('notes')} ORDER BY id`)).rows).toEqual([
      { id: 1, member: '2' },
      { id: 2, member: '2' },
      { id: 3, member: '2' },
      { id: 4, member: '4' },
    ]);
    const archived = await c.query(`SELECT key FROM "dedupe state".dedupe_archive WHERE run_id = $1 ORDER BY id`, [result.runId]);
    expect(archived.rows.map((r) => r.key)).toEqual([{ id: 1 }, { id: 3 }]);
  });

  it('undo re-inserts the archived rows with their keys and points the references back: checksums equal the original', async () => {
    const { rows } = await db().client.query(`SELECT id FROM "dedupe state".runs WHERE command = 'dedupe'`);
    const undone = await undoRun({ databaseUrl: db().url, manifest, runId: rows[0].id });
    expect(undone.steps.map((s) => [s.kind, s.table, s.restored, s.changedSince])).toEqual([
      ['reinsert', 'Members.x', 2, 0],
      ['repoint', 'notes', 3, 0],
    ]);
    expect(await tableChecksums(db().client, SCHEMA)).toEqual(original);
  });

  it('undo restores rows of a GENERATED ALWAYS identity table (OVERRIDING SYSTEM VALUE)', async () => {
    const c = db().client;
    await c.query(`DELETE FROM ${t('pref links')} WHERE id = 2`);
    const before = await tableChecksums(c, SCHEMA);
    const result = await runDedupe({ databaseUrl: db().url, manifest, table: 'prefs' });
    expect(result.groups[0]).toMatchObject({ status: 'resolved', kept: { id: 1 }, removed: [{ id: 2 }] });
    expect((await c.query(`SELECT count(*)::int AS n FROM ${t('prefs')}`)).rows[0].n).toBe(2);
    await undoRun({ databaseUrl: db().url, manifest, runId: result.runId! });
    expect(await tableChecksums(c, SCHEMA)).toEqual(before);
  });
});

describe('dedupe names the references no index leads (each removed row would scan their table)', () => {
  const db = useTestDatabase();
  it('an unindexed FK is reported; an index led by its columns clears it, one led by another column does not', async () => {
    const c = db().client;
    await c.query(`CREATE SCHEMA ix;
      CREATE TABLE ix.companies (id integer PRIMARY KEY);
      INSERT INTO ix.companies VALUES (1);
      CREATE TABLE ix.accounts (id integer PRIMARY KEY, company_id integer REFERENCES ix.companies, name text);
      INSERT INTO ix.accounts VALUES (1, 1, 'a'), (2, 1, 'a');
      CREATE TABLE ix.notes (id integer PRIMARY KEY, company_id integer, account_id integer CONSTRAINT notes_account_fk REFERENCES ix.accounts);
      INSERT INTO ix.notes VALUES (1, 1, 2);
      CREATE INDEX notes_wrong_lead ON ix.notes (id, account_id)`);
    const manifest = parseManifest({
      schema: 'ix',
      state_schema: 'ix_state',
      tenant: { table: 'companies', key: 'id', column: 'company_id', setting: 'app.company' },
      roles: { app: ['ix_app_never_created'] },
      tables: { accounts: { unique: [['name']] }, notes: {} },
    });
    const unindexed = await runDedupe({ databaseUrl: db().url, manifest, dryRun: true });
    expect(unindexed.unindexedReferences).toEqual([{ table: 'notes', references: 'accounts', constraint: 'notes_account_fk', columns: ['account_id'] }]);
    await c.query(`CREATE INDEX ON ix.notes (account_id, id)`);
    expect((await runDedupe({ databaseUrl: db().url, manifest, dryRun: true })).unindexedReferences).toEqual([]);
  });
});

// The plan stage, before any change: tenant columns whose types cannot meet (exit 2), keyless tables with nothing to fill (skipped).
import { beforeAll, describe, expect, it } from 'vitest';
import { parseManifest } from '../../src/config/manifest.js';
import { runBackfill } from '../../src/backfill/backfill-runner.js';
import { TenancyError } from '../../src/errors.js';
import { memoryLogger } from '../../src/logger.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { schemaExists, tableChecksums, writeConfig } from './helpers.js';

describe('backfill: a tenant column of another type than the column it is filled from', () => {
  const db = useTestDatabase();
  const raw = {
    schema: 'tm',
    state_schema: 'tm_state',
    tenant: { table: 'companies', key: 'id', column: 'company_id', setting: 'app.company' },
    roles: { app: ['tm_app'] },
    tables: { notes: { backfill: ['company'] }, comments: { backfill: ['note_id'] }, links: {} },
  };
  let config: string;
  const args = () => ['backfill', '--config', config, '--database-url', db().url];
  const tenants = async (table: string) =>
    (await db().client.query(`SELECT id, company_id::text AS c FROM tm.${table} ORDER BY id`)).rows.map((r) => r.c);

  beforeAll(async () => {
    const c = db().client;
    await c.query(`CREATE SCHEMA tm`);
    await c.query(`CREATE TABLE tm.companies (id bigint PRIMARY KEY)`);
    await c.query(`INSERT INTO tm.companies VALUES (1), (2)`);
    // notes.company_id is text while the key is bigint; comments (bigint) derive from notes.
    await c.query(`CREATE TABLE tm.notes (id int PRIMARY KEY, company_id text, company bigint REFERENCES tm.companies)`);
    await c.query(`INSERT INTO tm.notes VALUES (1, NULL, 1), (2, NULL, 2)`);
    await c.query(`CREATE TABLE tm.comments (id int PRIMARY KEY, company_id bigint, note_id int REFERENCES tm.notes)`);
    await c.query(`INSERT INTO tm.comments VALUES (1, NULL, 1), (2, NULL, 2)`);
    // links fills nothing, but its FK to notes is checked for cross-tenant references (bigint <> text).
    await c.query(`CREATE TABLE tm.links (id int PRIMARY KEY, company_id bigint NOT NULL, note_id int REFERENCES tm.notes)`);
    await c.query(`INSERT INTO tm.links VALUES (1, 1, 1)`);
    config = await writeConfig(JSON.stringify(raw));
  });

  it('text vs bigint: exit 2 before any change (dry run too), naming each table and both columns with their types', async () => {
    const before = await tableChecksums(db().client, 'tm');
    for (const extra of [[], ['--dry-run']]) {
      const res = await runCli([...args(), ...extra]);
      expect(res.code, res.stderr).toBe(2);
      expect(res.stderr).toContain('tm.notes.company_id (text) is filled (through company) from tm.companies.id (bigint)');
      expect(res.stderr).toContain('tm.comments.company_id (bigint) is filled (through note_id) from tm.notes.company_id (text)');
      expect(res.stderr).toContain('tm.links.company_id (bigint) is compared (through note_id) with tm.notes.company_id (text)');
      expect(res.stderr).toContain('ALTER TABLE "tm"."notes" ALTER COLUMN "company_id" TYPE bigint');
    }
    expect(await tableChecksums(db().client, 'tm')).toEqual(before);
    expect(await schemaExists(db().client, 'tm_state')).toBe(false);
    const error = await runBackfill({ databaseUrl: db().url, manifest: parseManifest(raw) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TenancyError);
    expect(error).toMatchObject({ code: 'manifest-live', exitCode: 2 });
  });

  it('the same types: the run fills every row (exit 0)', async () => {
    await db().client.query(`ALTER TABLE tm.notes ALTER COLUMN company_id TYPE bigint USING company_id::bigint`);
    const dry = await runCli([...args(), '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    const res = await runCli(args());
    expect(res.code, res.stderr).toBe(0);
    expect(await tenants('notes')).toEqual(['1', '2']);
    expect(await tenants('comments')).toEqual(['1', '2']);
  });

  it('types that differ but compare (integer from bigint) still run, as before', async () => {
    await db().client.query(`ALTER TABLE tm.comments ALTER COLUMN company_id TYPE integer`);
    await db().client.query(`INSERT INTO tm.comments VALUES (3, NULL, 2)`);
    const res = await runCli(args());
    expect(res.code, res.stderr).toBe(0);
    expect(await tenants('comments')).toEqual(['1', '2', '2']);
  });
});

describe('backfill: scoped tables without a primary key', () => {
  const db = useTestDatabase();
  const raw = {
    schema: 'kl',
    state_schema: 'kl_state',
    tenant: { table: 'companies', key: 'id', column: 'company_id', setting: 'app.company' },
    roles: { app: ['kl_app'] },
    tables: { events: {}, logs: {}, items: { backfill: ['company'] } },
  };
  let config: string;

  beforeAll(async () => {
    const c = db().client;
    await c.query(`CREATE SCHEMA kl`);
    await c.query(`CREATE TABLE kl.companies (id int PRIMARY KEY)`);
    await c.query(`INSERT INTO kl.companies VALUES (1), (2)`);
    // events: no key, tenant NOT NULL. logs: no key, nullable tenant, every row set. items: to fill.
    await c.query(`CREATE TABLE kl.events (company_id int NOT NULL REFERENCES kl.companies, what text)`);
    await c.query(`INSERT INTO kl.events VALUES (1, 'a'), (2, 'b')`);
    await c.query(`CREATE TABLE kl.logs (company_id int REFERENCES kl.companies, line text)`);
    await c.query(`INSERT INTO kl.logs VALUES (1, 'x'), (2, 'y')`);
    await c.query(`CREATE TABLE kl.items (id int PRIMARY KEY, company_id int, company int REFERENCES kl.companies)`);
    await c.query(`INSERT INTO kl.items VALUES (1, NULL, 1), (2, NULL, 2)`);
    config = await writeConfig(JSON.stringify(raw));
  });

  it('a keyless table that needs no fill is skipped with a note; the others are filled (dry run and run)', async () => {
    const dry = await runCli(['backfill', '--config', config, '--database-url', db().url, '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    const report = JSON.parse(dry.stdout);
    expect(report.skippedTables.map((s: { table: string }) => s.table)).toEqual(['events', 'logs']);
    expect(report.tables.find((t: { table: string }) => t.table === 'items')).toMatchObject({ filled: 2 });

    const logger = memoryLogger();
    const result = await runBackfill({ databaseUrl: db().url, manifest: parseManifest(raw), logger });
    expect(result.ok).toBe(true);
    expect(result.skippedTables).toEqual([
      { table: 'events', reason: expect.stringContaining('kl.events has no primary key and company_id is NOT NULL: nothing to fill') },
      { table: 'logs', reason: expect.stringContaining('kl.logs has no primary key and no NULL company_id: nothing to fill') },
    ]);
    expect(result.tables.map((t) => t.table)).toEqual(['items']);
    expect(logger.lines.filter((l) => l.message.startsWith('skipped ')).map((l) => l.message)).toHaveLength(2);
    const { rows } = await db().client.query(`SELECT company_id FROM kl.items ORDER BY id`);
    expect(rows).toEqual([{ company_id: 1 }, { company_id: 2 }]);
  });

  it('a keyless table that does need a fill is walked by ctid pages: a row no source places is an orphan named by ctid (exit 1)', async () => {
    await db().client.query(`INSERT INTO kl.logs VALUES (NULL, 'z')`);
    await db().client.query(`INSERT INTO kl.items VALUES (3, NULL, 1)`);
    const dry = await runCli(['backfill', '--config', config, '--database-url', db().url, '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(1);
    expect(JSON.parse(dry.stdout).orphans).toEqual([{ table: 'logs', key: { ctid: expect.stringMatching(/^\(\d+,\d+\)$/) }, candidates: [] }]);
    const res = await runCli(['backfill', '--config', config, '--database-url', db().url, '--json']);
    expect(res.code, res.stderr).toBe(1);
    const report = JSON.parse(res.stdout);
    expect(report.skippedTables.map((s: { table: string }) => s.table)).toEqual(['events']);
    expect(report.orphans.map((o: { table: string }) => o.table)).toEqual(['logs']);
    const { rows } = await db().client.query(`SELECT company_id FROM kl.items WHERE id = 3`);
    expect(rows).toEqual([{ company_id: 1 }]);
  });
});

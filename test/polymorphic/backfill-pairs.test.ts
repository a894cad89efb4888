// backfill fills a tenant column through polymorphic pairs (text ids against uuid and bigint keys),
// reports rows whose type names no target as orphans, records every change, and undo restores them.
import { describe, expect, it } from 'vitest';
import { runBackfill } from '../../src/backfill/backfill-runner.js';
import { parseManifest, type Manifest } from '../../src/config/manifest.js';
import { loadSampleSaas } from '../../src/sample/sample-saas.js';
import { undoRun } from '../../src/undo/undo-runner.js';
import { tableChecksums } from '../backfill/helpers.js';
import { useTestDatabase } from '../support/database.js';
import { saasManifest } from './helpers.js';

const I1 = '00000000-0000-4000-8000-0000000000a1';
const I2 = '00000000-0000-4000-8000-0000000000b2';

const manifest = (schema: string, versions: Record<string, unknown> = {}): Manifest =>
  parseManifest({
    schema,
    state_schema: `${schema}_state`,
    tenant: { table: 'tenants', key: 'id', column: 'tenant_id', setting: 'app.tenant' },
    roles: { app: ['crm_app_never_created'] },
    tables: {
      invoices: null,
      requests: null,
      versions: { polymorphic: [{ type: 'item_type', id: 'item_id', targets: { Invoice: 'invoices', Request: 'requests', Tenant: 'tenants' } }], ...versions },
    },
  });

describe('backfill through polymorphic pairs', () => {
  const db = useTestDatabase();
  const sql = (text: string) => db().client.query(text);
  const tenants = async (schema: string) =>
    (await sql(`SELECT id, tenant_id FROM ${schema}.versions ORDER BY id`)).rows.map((r) => [Number(r.id), r.tenant_id]);

  const setup = (schema: string) =>
    sql(`CREATE SCHEMA ${schema};
      CREATE TABLE ${schema}.tenants (id integer PRIMARY KEY);
      INSERT INTO ${schema}.tenants VALUES (1), (2);
      CREATE TABLE ${schema}.invoices (id uuid PRIMARY KEY, tenant_id integer NOT NULL REFERENCES ${schema}.tenants);
      INSERT INTO ${schema}.invoices VALUES ('${I1}', 1), ('${I2}', 2);
      CREATE TABLE ${schema}.requests (id bigint PRIMARY KEY, tenant_id integer NOT NULL REFERENCES ${schema}.tenants);
      INSERT INTO ${schema}.requests VALUES (7, 1), (9223372036854775807, 2);
      CREATE TABLE ${schema}.versions (id bigint PRIMARY KEY, item_type text NOT NULL, item_id text NOT NULL, tenant_id integer REFERENCES ${schema}.tenants);
      INSERT INTO ${schema}.versions (id, item_type, item_id, tenant_id) VALUES
        (1, 'Invoice', '${I1}', NULL),
        (2, 'Invoice', '${I2}', NULL),
        (3, 'Request', '7', NULL),
        (4, 'Request', '9223372036854775807', NULL),
        (5, 'Widget', '${I1}', NULL),                -- names no target: orphan
        (6, 'Invoice', 'not-a-uuid', NULL),          -- no such invoice (and no cast error): orphan
        (7, 'Request', '99999999999999999999', NULL), -- beyond bigint: orphan
        (8, 'Invoice', '${I1}', 2),                  -- already set: left alone
        (9, 'Tenant', '2', NULL),                    -- the tenant itself
        (10, 'Invoice', '${I2}', NULL)`);

  it('fills each row from its target chosen by type, in small keyset batches; orphans reported; undo restores every change', async () => {
    await setup('pf');
    const m = manifest('pf');
    const before = await tableChecksums(db().client, 'pf');

    const dry = await runBackfill({ databaseUrl: db().url, manifest: m, dryRun: true });
    expect(dry.tables.find((t) => t.table === 'versions')).toMatchObject({ filled: 6, orphans: 3 });
    expect(await tableChecksums(db().client, 'pf')).toEqual(before);

    const run = await runBackfill({ databaseUrl: db().url, manifest: m, batchSize: 2, targetBatchMs: 0 });
    expect(run.tables.find((t) => t.table === 'versions')).toMatchObject({ filled: 6, orphans: 3, conflicts: 0 });
    expect(run.orphans.map((o) => [o.table, o.key])).toEqual([
      ['versions', { id: 5 }],
      ['versions', { id: 6 }],
      ['versions', { id: 7 }],
    ]);
    expect(run.ok).toBe(false);
    expect(await tenants('pf')).toEqual([
      [1, 1], [2, 2], [3, 1], [4, 2], [5, null], [6, null], [7, null], [8, 2], [9, 2], [10, 2],
    ]);

    const undone = await undoRun({ databaseUrl: db().url, manifest: m, runId: run.runId! });
    expect(undone).toBeTruthy();
    expect(await tableChecksums(db().client, 'pf')).toEqual(before);
  });

  it('a pair beside a foreign key: agreeing sources fill, disagreeing ones are conflicts left NULL', async () => {
    await setup('pc');
    await sql(`ALTER TABLE pc.versions ADD COLUMN request_id bigint REFERENCES pc.requests;
      UPDATE pc.versions SET request_id = 7 WHERE id IN (1, 2)`);
    const run = await runBackfill({ databaseUrl: db().url, manifest: manifest('pc', { backfill: ['request_id'] }) });
    // 1: invoice of tenant 1 and request of tenant 1 agree; 2: invoice of tenant 2, request of tenant 1.
    expect(run.conflicts.map((c) => [c.key, c.candidates])).toEqual([[{ id: 2 }, [1, 2]]]);
    expect((await tenants('pc')).slice(0, 2)).toEqual([[1, 1], [2, null]]);
  });

  it('a target without its tenant column yet stops the run (exit 2) before anything is written', async () => {
    await setup('pn');
    await sql(`ALTER TABLE pn.requests DROP COLUMN tenant_id`);
    const before = await tableChecksums(db().client, 'pn');
    await expect(runBackfill({ databaseUrl: db().url, manifest: manifest('pn'), table: 'versions' })).rejects.toMatchObject({
      code: 'manifest-live',
      message: expect.stringContaining("target pn.requests (type 'Request'): no tenant_id column yet"),
    });
    expect(await tableChecksums(db().client, 'pn')).toEqual(before);
  });

  it('on the SaaS fixture: versions and attachments (reached only through pairs) get their organization; undo restores', async () => {
    await loadSampleSaas(db().client, { scale: 2, modules: 0, schema: 'saas' });
    // What the expand migration adds (generate/migrate): the tenant column, nullable.
    await sql(`ALTER TABLE saas.versions ADD COLUMN organization_id uuid;
      ALTER TABLE saas.active_storage_attachments ADD COLUMN organization_id uuid;
      ALTER TABLE saas.custom_field_values ADD COLUMN organization_id uuid`);
    const m = saasManifest('saas');
    const before = await tableChecksums(db().client, 'saas');
    const run = await runBackfill({ databaseUrl: db().url, manifest: m, batchSize: 5, targetBatchMs: 0 });
    const count = async (q: string) => Number((await sql(q)).rows[0].n);
    const versions = await count(`SELECT count(*) AS n FROM saas.versions`);
    expect(versions).toBeGreaterThan(0);
    expect(run.tables.find((t) => t.table === 'versions')?.filled).toBe(versions);
    expect(await count(`SELECT count(*) AS n FROM saas.versions WHERE organization_id IS NULL`)).toBe(0);
    // Each row has exactly its item's organization.
    expect(
      await count(`SELECT count(*) AS n FROM saas.versions v
        LEFT JOIN saas.invoices i ON v.item_type = 'Invoice' AND i.id::text = v.item_id
        LEFT JOIN saas.customers c ON v.item_type = 'Customer' AND c.id::text = v.item_id
        WHERE v.organization_id IS DISTINCT FROM coalesce(i.organization_id, c.organization_id)`),
    ).toBe(0);
    expect(
      await count(`SELECT count(*) AS n FROM saas.active_storage_attachments a JOIN saas.invoices i ON i.id = a.record_id
        WHERE a.organization_id IS DISTINCT FROM i.organization_id`),
    ).toBe(0);
    // custom_field_values: its field's organization and its record's agree on every row.
    expect(await count(`SELECT count(*) AS n FROM saas.custom_field_values WHERE organization_id IS NULL`)).toBe(0);
    expect(
      await count(`SELECT count(*) AS n FROM saas.custom_field_values v JOIN saas.customers c ON c.id = v.record_id
        WHERE v.organization_id IS DISTINCT FROM c.organization_id`),
    ).toBe(0);
    expect(run.orphans).toEqual([]);
    expect(run.conflicts).toEqual([]);

    await undoRun({ databaseUrl: db().url, manifest: m, runId: run.runId! });
    expect(await tableChecksums(db().client, 'saas')).toEqual(before);
  });
});

describe('backfill through a pair, two hops', () => {
  const db = useTestDatabase();
  const sql = (text: string) => db().client.query(text);

  it('a pair whose target is filled in the same run: targets first, and the dry run simulates both hops', async () => {
    await loadSampleSaas(db().client, { scale: 1, modules: 0, schema: 'hop' });
    await sql(`ALTER TABLE hop.versions ADD COLUMN organization_id uuid;
      INSERT INTO hop.versions (item_type, item_id, event) SELECT 'Project', id::text, 'update' FROM hop.projects`);
    const base = saasManifest('hop');
    const manifest = {
      ...base,
      tables: [
        ...base.tables.filter((t) => t.name !== 'versions'),
        { name: 'projects', backfill: ['customer_id'], unique: [], singleton: false, sharedRows: false, polymorphic: [] },
        {
          ...base.tables.find((t) => t.name === 'versions')!,
          polymorphic: [{ typeColumn: 'item_type', idColumn: 'item_id', targets: [{ type: 'Invoice', table: 'invoices' }, { type: 'Customer', table: 'customers' }, { type: 'Project', table: 'projects' }] }],
        },
      ].filter((t) => !['custom_field_values', 'active_storage_attachments'].includes(t.name)),
    };
    const nullProjects = Number((await sql(`SELECT count(*) AS n FROM hop.projects WHERE organization_id IS NULL`)).rows[0].n);
    expect(nullProjects).toBe(2);
    const versions = Number((await sql(`SELECT count(*) AS n FROM hop.versions`)).rows[0].n);
    const dry = await runBackfill({ databaseUrl: db().url, manifest, dryRun: true });
    expect(dry.tables.find((t) => t.table === 'versions')).toMatchObject({ filled: versions, orphans: 0 });
    const run = await runBackfill({ databaseUrl: db().url, manifest });
    expect(run.tables.find((t) => t.table === 'versions')).toMatchObject({ filled: versions, orphans: 0, pending: 0 });
    expect(
      Number(
        (
          await sql(`SELECT count(*) AS n FROM hop.versions v JOIN hop.projects p ON v.item_type = 'Project' AND p.id::text = v.item_id
                      WHERE v.organization_id IS DISTINCT FROM p.organization_id OR p.organization_id IS NULL`)
        ).rows[0].n,
      ),
    ).toBe(0);
  });
});

// dedupe merges only one entity: distinct entities sharing a key are conflicts (exit 1); partial keys group only live rows.
import { describe, expect, it } from 'vitest';
import { parseManifest, parseManifestText, type Manifest } from '../../src/config/manifest.js';
import { runDedupe, uniqueKeysOf, type DedupeKey } from '../../src/dedupe/dedupe-runner.js';
import { findDuplicateGroups, entityColumns, keepOrder, type KeySpec } from '../../src/dedupe/find-duplicate-groups.js';
import { resolveGroup } from '../../src/dedupe/resolve-group.js';
import { incomingForeignKeys } from '../../src/dedupe/incoming-keys.js';
import { undoRun } from '../../src/undo/undo-runner.js';
import { findRelation, readCatalog } from '../../src/db/catalog.js';
import { primaryKeyColumns } from '../../src/db/table-keys.js';
import { ensureStateSchema } from '../../src/state/state-schema.js';
import { startRun } from '../../src/state/runs.js';
import { silentLogger } from '../../src/logger.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { tableChecksums, writeConfig } from '../backfill/helpers.js';

/** The manifest with `table`'s unique keys replaced. */
function withUniqueKeys(manifest: Manifest, table: string, keys: DedupeKey[]): Manifest {
  return {
    ...manifest,
    tables: manifest.tables.map((t) => (t.name === table ? { ...t, unique: keys.map((k) => ({ ...k, same: k.same ?? [] })) } : t)),
  };
}

/** A manifest transform giving one table partial (`where`) and entity (`same`) keys. */
const keysFor = (table: string, keys: DedupeKey[]) => (manifest: Manifest) => withUniqueKeys(manifest, table, keys);

const INVOICES_YAML = `schema: ent
state_schema: ent_state
tenant: { table: companies, key: id, column: company_id, setting: app.company }
roles: { app: [ent_app_never_created] }
tables:
  customers: {}
  invoices: { unique: [[number]] }
  invoice_items: {}
`;

describe('uniqueKeysOf: the manifest keys as dedupe reads them', () => {
  it('a list entry is columns only; an object entry keeps where and same; an unknown table has none', () => {
    const manifest = parseManifest({
      tenant: { table: 'companies', key: 'id', column: 'company_id', setting: 'app.company' },
      roles: { app: ['a'] },
      tables: { invoices: { unique: [['number'], ['code', 'year']] }, notes: {} },
    });
    expect(uniqueKeysOf(manifest, 'invoices')).toEqual([{ columns: ['number'] }, { columns: ['code', 'year'] }]);
    expect(uniqueKeysOf(manifest, 'notes')).toEqual([]);
    expect(uniqueKeysOf(manifest, 'nope')).toEqual([]);
    const partial = withUniqueKeys(manifest, 'invoices', [{ columns: ['code'], where: 'deleted_at IS NULL', same: ['total'] }]);
    expect(uniqueKeysOf(partial, 'invoices')).toEqual([{ columns: ['code'], where: 'deleted_at IS NULL', same: ['total'] }]);
  });
});

describe('dedupe leaves distinct entities that share a key alone (conflicts) and merges one entity', () => {
  const db = useTestDatabase();

  it('two invoices numbered INV-7 of different customers: nothing changed, conflict with the column and samples, exit 1; same customer: merged', async () => {
    const c = db().client;
    await c.query(`CREATE SCHEMA ent;
      CREATE TABLE ent.companies (id int PRIMARY KEY);
      INSERT INTO ent.companies VALUES (1), (2);
      CREATE TABLE ent.customers (id int PRIMARY KEY, company_id int REFERENCES ent.companies, name text);
      INSERT INTO ent.customers VALUES (10, 1, 'Acme'), (11, 1, 'Birch');
      CREATE TABLE ent.invoices (id int PRIMARY KEY, company_id int REFERENCES ent.companies, number text,
                                 customer_id int REFERENCES ent.customers, total numeric);
      INSERT INTO ent.invoices VALUES (1, 1, 'INV-7', 10, 100), (2, 1, 'INV-7', 11, 250), (3, 2, 'INV-7', NULL, 5);
      CREATE TABLE ent.invoice_items (id int PRIMARY KEY, company_id int, invoice_id int REFERENCES ent.invoices);
      INSERT INTO ent.invoice_items VALUES (1, 1, 1), (2, 1, 2), (3, 1, 2)`);
    const config = await writeConfig(INVOICES_YAML);
    const before = await tableChecksums(c, 'ent');

    const res = await runCli(['dedupe', '--config', config, '--database-url', db().url, '--json']);
    expect(res.code).toBe(1);
    const report = JSON.parse(res.stdout);
    expect(report.conflicts).toEqual([
      {
        table: 'invoices',
        columns: ['number'],
        tenant: 1,
        values: { number: 'INV-7' },
        rows: 2,
        differing: [{ column: 'customer_id', because: 'foreign-key' }],
        samples: [
          { key: { id: 1 }, values: { customer_id: 10 } },
          { key: { id: 2 }, values: { customer_id: 11 } },
        ],
      },
    ]);
    expect(report).toMatchObject({ groups: [], removed: 0, repointed: 0, ok: false });
    expect(await tableChecksums(c, 'ent')).toEqual(before);
    const text = await runCli(['dedupe', '--dry-run', '--config', config, '--database-url', db().url]);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('conflict: 2 rows differ in customer_id (foreign key); distinct entities, not merged');
    expect(text.stdout).not.toContain('no duplicate groups');

    // Made the same entity (the second invoice was the first one entered twice): merged, its items re-pointed.
    await c.query(`UPDATE ent.invoices SET customer_id = 10, total = 100 WHERE id = 2`);
    const merged = await runCli(['dedupe', '--config', config, '--database-url', db().url, '--json']);
    expect(merged.code).toBe(0);
    const after = JSON.parse(merged.stdout);
    expect(after.conflicts).toEqual([]);
    expect(after.groups).toMatchObject([{ table: 'invoices', status: 'resolved', kept: { id: 1 }, removed: [{ id: 2 }] }]);
    expect((await c.query(`SELECT id FROM ent.invoices ORDER BY id`)).rows).toEqual([{ id: 1 }, { id: 3 }]);
    expect((await c.query(`SELECT id, invoice_id FROM ent.invoice_items ORDER BY id`)).rows).toEqual([
      { id: 1, invoice_id: 1 },
      { id: 2, invoice_id: 1 },
      { id: 3, invoice_id: 1 },
    ]);
  });

  it('a `same` column decides too: rows differing in total are a conflict; equal totals merge', async () => {
    const c = db().client;
    await c.query(`INSERT INTO ent.invoices VALUES (4, 1, 'INV-8', 10, 10), (5, 1, 'INV-8', 10, 99)`);
    const manifest = parseManifestText(INVOICES_YAML);
    const plain = await runDedupe({ databaseUrl: db().url, manifest, table: 'invoices', dryRun: true });
    expect(plain.conflicts).toEqual([]);
    expect(plain.groups).toMatchObject([{ values: { number: 'INV-8' }, kept: { id: 4 }, removed: [{ id: 5 }], status: 'planned' }]);

    const strict = keysFor('invoices', [{ columns: ['number'], same: ['total'] }]);
    const conflict = await runDedupe({ databaseUrl: db().url, manifest: strict(manifest), table: 'invoices' });
    expect(conflict.groups).toEqual([]);
    expect(conflict.conflicts).toMatchObject([{ values: { number: 'INV-8' }, differing: [{ column: 'total', because: 'same' }] }]);
    expect(conflict.conflicts[0].samples.map((s) => s.values.total)).toEqual([10, 99]);
    expect(conflict.ok).toBe(false);
    expect((await c.query(`SELECT count(*)::int AS n FROM ent.invoices WHERE number = 'INV-8'`)).rows[0].n).toBe(2);

    await c.query(`UPDATE ent.invoices SET total = 10 WHERE id = 5`);
    const done = await runDedupe({ databaseUrl: db().url, manifest: strict(manifest), table: 'invoices' });
    expect(done).toMatchObject({ conflicts: [], removed: 1, ok: true });
    expect((await c.query(`SELECT id FROM ent.invoices WHERE number = 'INV-8'`)).rows).toEqual([{ id: 4 }]);
  });

  it('a group that changed after it was found is skipped, not merged: resolveGroup re-checks under the lock', async () => {
    const c = db().client;
    await c.query(`INSERT INTO ent.invoices VALUES (6, 1, 'INV-9', 10, 1), (7, 1, 'INV-9', 10, 1)`);
    await ensureStateSchema(c, 'ent_state');
    const runId = await startRun(c, 'ent_state', 'dedupe');
    const rel = findRelation(await readCatalog(c, ['ent']), 'ent', 'invoices')!;
    const key = primaryKeyColumns(rel, 'test');
    const spec: KeySpec = { kind: 'unique', columns: ['number'] };
    const entity = entityColumns(rel, spec, 'company_id');
    expect(entity).toEqual([{ column: 'customer_id', because: 'foreign-key' }]);
    const [group] = await findDuplicateGroups(c, rel, key, spec, entity, 'company_id', keepOrder(rel, key, 'oldest'));
    expect(group).toMatchObject({ keys: [{ id: 6 }, { id: 7 }], differing: [] });
    const ctx = {
      client: c,
      stateSchema: 'ent_state',
      runId,
      rel,
      key,
      spec,
      entity,
      tenantColumn: 'company_id',
      incoming: await incomingForeignKeys(c, 'ent', 'invoices'),
      lockTimeoutMs: 500,
      logger: silentLogger,
    };
    // Another session gives the second invoice to another customer meanwhile: two entities now.
    await c.query(`UPDATE ent.invoices SET customer_id = 11 WHERE id = 7`);
    expect(await resolveGroup(ctx, group.keys[0], group.keys.slice(1))).toEqual({
      status: 'skipped',
      reason: 'rows changed while dedupe ran; run it again',
      repointed: [],
    });
    expect((await c.query(`SELECT count(*)::int AS n FROM ent.invoices WHERE number = 'INV-9'`)).rows[0].n).toBe(2);
    // Back to one entity: the same call resolves it.
    await c.query(`UPDATE ent.invoices SET customer_id = 10 WHERE id = 7`);
    expect(await resolveGroup(ctx, group.keys[0], group.keys.slice(1))).toEqual({ status: 'resolved', repointed: [] });
    expect((await c.query(`SELECT id FROM ent.invoices WHERE number = 'INV-9'`)).rows).toEqual([{ id: 6 }]);
  });
});

describe('dedupe on a partial key (unique code WHERE deleted_at IS NULL): only live rows are grouped', () => {
  const db = useTestDatabase();
  const base = parseManifest({
    schema: 'soft',
    state_schema: 'soft_state',
    tenant: { table: 'companies', key: 'id', column: 'company_id', setting: 'app.company' },
    roles: { app: ['soft_app_never_created'] },
    tables: { plans: { unique: [['code']] }, subscriptions: {} },
  });
  const partial = keysFor('plans', [{ columns: ['code'], where: 'deleted_at IS NULL' }]);
  const partialIndex = `CREATE UNIQUE INDEX plans_live_code ON soft.plans (company_id, code) WHERE deleted_at IS NULL`;

  it('keeps the oldest live row, never the older soft-deleted one; a deleted and a live row are no group; children re-pointed; undo restores', async () => {
    const c = db().client;
    await c.query(`CREATE SCHEMA soft;
      CREATE TABLE soft.companies (id int PRIMARY KEY);
      INSERT INTO soft.companies VALUES (1);
      CREATE TABLE soft.plans (id int PRIMARY KEY, company_id int REFERENCES soft.companies, code text,
                               deleted_at timestamptz, created_at timestamptz NOT NULL);
      INSERT INTO soft.plans VALUES
        (1, 1, 'PRO',   '2025-01-05', '2025-01-01'),  -- the oldest PRO, soft-deleted
        (2, 1, 'PRO',   NULL,         '2025-02-01'),
        (3, 1, 'PRO',   NULL,         '2025-03-01'),
        (4, 1, 'BASIC', '2025-01-05', '2025-01-01'),  -- deleted BASIC beside its one live successor
        (5, 1, 'BASIC', NULL,         '2025-02-01');
      CREATE TABLE soft.subscriptions (id int PRIMARY KEY, company_id int, plan_id int REFERENCES soft.plans);
      INSERT INTO soft.subscriptions VALUES (1, 1, 1), (2, 1, 2), (3, 1, 3), (4, 1, 4), (5, 1, 5)`);
    const original = await tableChecksums(c, 'soft');
    await expect(c.query(partialIndex)).rejects.toMatchObject({ code: '23505' });

    // Without the predicate (the list form), the soft-deleted rows would be grouped and kept (the damage of #13).
    const full = await runDedupe({ databaseUrl: db().url, manifest: base, dryRun: true });
    expect(full.groups.map((g) => [g.values, g.kept, g.removed])).toEqual([
      [{ code: 'BASIC' }, { id: 4 }, [{ id: 5 }]],
      [{ code: 'PRO' }, { id: 1 }, [{ id: 2 }, { id: 3 }]],
    ]);

    const dry = await runDedupe({ databaseUrl: db().url, manifest: partial(base), dryRun: true });
    expect(dry.groups).toEqual([
      {
        table: 'plans',
        kind: 'unique',
        columns: ['code'],
        where: 'deleted_at IS NULL',
        tenant: 1,
        values: { code: 'PRO' },
        kept: { id: 2 },
        removed: [{ id: 3 }],
        repointed: [{ table: 'subscriptions', constraint: 'subscriptions_plan_id_fkey', columns: ['plan_id'], rows: 1 }],
        status: 'planned',
      },
    ]);

    const run = await runDedupe({ databaseUrl: db().url, manifest: partial(base) });
    expect(run).toMatchObject({ removed: 1, repointed: 1, conflicts: [], ok: true });
    expect((await c.query(`SELECT id FROM soft.plans ORDER BY id`)).rows.map((r) => r.id)).toEqual([1, 2, 4, 5]);
    expect((await c.query(`SELECT id, plan_id FROM soft.subscriptions ORDER BY id`)).rows).toEqual([
      { id: 1, plan_id: 1 },
      { id: 2, plan_id: 2 },
      { id: 3, plan_id: 2 },
      { id: 4, plan_id: 4 },
      { id: 5, plan_id: 5 },
    ]);
    await c.query(partialIndex); // the data now satisfies the real key
    await c.query(`DROP INDEX soft.plans_live_code`);

    await undoRun({ databaseUrl: db().url, manifest: base, runId: run.runId! });
    expect(await tableChecksums(c, 'soft')).toEqual(original);
  });

  it('could not run (exit 2, nothing written) when `where` is not one condition on the table or `same` names no column', async () => {
    const c = db().client;
    const before = await tableChecksums(c, 'soft');
    const runs = async () => (await c.query(`SELECT count(*)::int AS n FROM soft_state.runs`)).rows[0].n;
    const started = await runs();
    for (const where of ['deleted_on IS NULL', 'deleted_at IS NULL); DROP TABLE soft.subscriptions; SELECT (true', 'code']) {
      const bad = keysFor('plans', [{ columns: ['code'], where }]);
      await expect(runDedupe({ databaseUrl: db().url, manifest: bad(base) })).rejects.toMatchObject({ code: 'manifest-live', exitCode: 2 });
    }
    const noColumn = keysFor('plans', [{ columns: ['code'], same: ['price'] }]);
    await expect(runDedupe({ databaseUrl: db().url, manifest: noColumn(base) })).rejects.toMatchObject({
      code: 'manifest-live',
      problems: expect.arrayContaining([expect.stringMatching(/unique\[0\]: column price does not exist/)]),
    });
    expect(await tableChecksums(c, 'soft')).toEqual(before);
    expect(await runs()).toBe(started);
  });
});

// Composite keys with partitioned tables, on real PostgreSQL: a partitioned CHILD gets its
// (tenant, parent_id) foreign key by the route PostgreSQL 15 allows (NOT VALID per partition, validated
// there, then the parent's, which adopts them); a partitioned PARENT gets UNIQUE (tenant, id) as a
// partitioned unique index (its partition key is in it) that children reference. Before: a row of
// tenant 1 references tenant 2's row; after: refused, on every partition and on partitions created
// later; down restores the single-column keys. A parent whose partition key the key cannot hold is
// skipped with the reason and what to do.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveLiveContext } from '../../src/config/live-context.js';
import { parseManifest } from '../../src/config/manifest.js';
import { readPlanExtras } from '../../src/migrate/plan-extras.js';
import { planTenancy, stepId } from '../../src/migrate/plan.js';
import { renderMigrations } from '../../src/migrate/render.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { refusal } from '../support/refusal.js';
import { squawk, useTempDirs } from '../migrate/support.js';

const RAW = {
  schema: 'ck',
  tenant: { table: 'orgs', key: 'id', column: 'org_id', setting: 'app.org', composite_keys: true },
  roles: { app: ['ck_app'] },
  tables: { invoices: {}, lines: {}, tickets: {}, replies: {}, notes: {} },
};

describe('composite keys on partitioned tables', () => {
  const db = useTestDatabase();
  const tempDir = useTempDirs();
  const q = async (sql: string) => (await db().client.query(sql)).rows;
  const plan = async () => {
    const live = await resolveLiveContext(db().client, parseManifest(RAW));
    return { live, extras: await readPlanExtras(db().client, live) };
  };
  // One statement per probe: each cross-tenant write of the fixture, as tenant 1 pointing at tenant 2's row.
  const crossTenant = [
    `INSERT INTO ck.lines VALUES (1, 20, '2026-01-10')`, // partitioned child → plain parent
    `INSERT INTO ck.replies VALUES (9, 1, 200)`, // plain child → partitioned parent
    `INSERT INTO ck.notes VALUES (1, 200, '2026-02-10')`, // partitioned child → partitioned parent
  ];
  const accepted = async (sql: string) => (await refusal(db().client, sql)) === null;

  beforeAll(async () => {
    await q(`
      CREATE SCHEMA ck; SET search_path = ck;
      CREATE TABLE orgs (id int PRIMARY KEY);
      INSERT INTO orgs VALUES (1), (2);
      CREATE TABLE invoices (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs);
      INSERT INTO invoices VALUES (10, 1), (20, 2);
      CREATE TABLE lines (org_id int NOT NULL REFERENCES orgs, invoice_id int NOT NULL REFERENCES invoices, at date NOT NULL) PARTITION BY RANGE (at);
      CREATE TABLE lines_2026_01 PARTITION OF lines FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
      CREATE TABLE lines_2026_02 PARTITION OF lines FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');
      INSERT INTO lines VALUES (1, 10, '2026-01-05'), (2, 20, '2026-02-05');
      CREATE TABLE tickets (id int NOT NULL PRIMARY KEY, org_id int NOT NULL REFERENCES orgs) PARTITION BY HASH (id);
      CREATE TABLE tickets_0 PARTITION OF tickets FOR VALUES WITH (MODULUS 2, REMAINDER 0);
      CREATE TABLE tickets_1 PARTITION OF tickets FOR VALUES WITH (MODULUS 2, REMAINDER 1);
      INSERT INTO tickets VALUES (100, 1), (200, 2), (101, 1);
      CREATE TABLE replies (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs, ticket_id int NOT NULL REFERENCES tickets ON DELETE CASCADE);
      INSERT INTO replies VALUES (1, 1, 100), (2, 2, 200);
      CREATE TABLE notes (org_id int NOT NULL REFERENCES orgs, ticket_id int REFERENCES tickets, at date NOT NULL) PARTITION BY RANGE (at);
      CREATE TABLE notes_2026_01 PARTITION OF notes FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
      CREATE TABLE notes_2026_02 PARTITION OF notes FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');
      INSERT INTO notes VALUES (1, 101, '2026-01-07'), (2, 200, '2026-02-07');
      RESET search_path;`);
  });

  it('plans them all (no "not generated for a partitioned table" skip): per-partition keys and a partitioned parent key', async () => {
    const { live, extras } = await plan();
    const p = planTenancy(live, new Set(), extras);
    expect(p.skipped).toEqual([]);
    const composite = p.steps.filter((s) => s.kind === 'parent-key' || s.kind === 'composite-fk');
    expect(composite.map((s) => [stepId(s), 'partitions' in s && s.partitions ? s.partitions.map((x) => x.name) : null])).toEqual([
      ['parent-key:invoices', null],
      ['parent-key:tickets', ['tickets_0', 'tickets_1']],
      ['composite-fk:lines:invoice_id', ['lines_2026_01', 'lines_2026_02']],
      ['composite-fk:replies:ticket_id', null],
      ['composite-fk:notes:ticket_id', ['notes_2026_01', 'notes_2026_02']],
    ]);
  });

  it('migrate makes every cross-tenant reference fail, on every partition and on one created later; down restores the single-column keys', async () => {
    // Before: each cross-tenant reference is accepted (the single-column keys only check existence).
    for (const sql of crossTenant) expect(await accepted(sql), sql).toBe(true);

    const { live, extras } = await plan();
    const files = renderMigrations(live, planTenancy(live, new Set(), extras).steps, { firstIndex: 1 });
    const dir = await tempDir();
    for (const f of files) await writeFile(path.join(dir, f.fileName), f.text);
    const text = files.map((f) => f.text).join('\n');
    // The route and its locks, stated in the file.
    expect(text).not.toMatch(/ALTER TABLE "ck"\."(lines|notes)" DROP CONSTRAINT IF EXISTS [^\n]*,\n\s*ADD CONSTRAINT/);
    expect(text).toContain('ALTER TABLE "ck"."lines_2026_01" DROP CONSTRAINT IF EXISTS "lines_org_id_invoice_id_fkey",\n  ADD CONSTRAINT "lines_org_id_invoice_id_fkey"\n  FOREIGN KEY ("org_id", "invoice_id") REFERENCES "ck"."invoices" ("org_id", "id") NOT VALID;');
    expect(text).toContain('PostgreSQL 15 refuses a NOT VALID foreign key on it');
    expect(text).toMatch(/Lock: SHARE ROW EXCLUSIVE on ck\.lines and every\n-- partition, ACCESS EXCLUSIVE on ck\.invoices/);
    expect(text).toContain('CREATE UNIQUE INDEX IF NOT EXISTS "tickets_org_id_id_key"\n  ON ONLY "ck"."tickets" ("org_id", "id");');
    expect(text).toContain('ADD CONSTRAINT … USING INDEX on a partitioned table');
    expect(text).toContain('SHARE ROW EXCLUSIVE on ck.tickets and each of its partitions');
    expect((await squawk(files.map((f) => path.join(dir, f.fileName)))).out).toBe('');

    const config = path.join(dir, 'tenancy.json.yaml');
    await writeFile(config, JSON.stringify(RAW));
    const migrate = await runCli(['migrate', '--config', config, '--database-url', db().url, '--migrations-dir', dir, '--json']);
    expect(migrate.code, migrate.stdout + migrate.stderr).toBe(0);

    for (const sql of crossTenant) expect(await accepted(sql), sql).toBe(false);
    // Same-tenant references still work, and the ON DELETE action came along.
    expect(await accepted(`INSERT INTO ck.lines VALUES (2, 20, '2026-01-11')`)).toBe(true);
    expect(await accepted(`INSERT INTO ck.notes VALUES (2, 200, '2026-02-11')`)).toBe(true);
    expect(await q(`SELECT pg_get_constraintdef(oid) AS d FROM pg_constraint WHERE conrelid = 'ck.replies'::regclass AND contype = 'f' AND conname LIKE '%ticket%' AND conparentid = 0`)).toEqual([
      { d: 'FOREIGN KEY (org_id, ticket_id) REFERENCES ck.tickets(org_id, id) ON DELETE CASCADE' },
    ]);
    // The parent's key adopted the partitions' (one key, attached everywhere); the single-column ones are gone.
    const fks = await q(`SELECT conrelid::regclass::text AS t, conname AS n, convalidated AS v, conparentid <> 0 AS attached FROM pg_constraint
                          WHERE contype = 'f' AND conrelid::regclass::text LIKE 'ck.lines%' AND conname NOT LIKE '%org_id_fkey' ORDER BY 1`);
    expect(fks).toEqual([
      { t: 'ck.lines', n: 'lines_org_id_invoice_id_fkey', v: true, attached: false },
      { t: 'ck.lines_2026_01', n: 'lines_org_id_invoice_id_fkey', v: true, attached: true },
      { t: 'ck.lines_2026_02', n: 'lines_org_id_invoice_id_fkey', v: true, attached: true },
    ]);
    // A partition created afterwards (pg_partman maintenance) has the composite key at once.
    await q(`CREATE TABLE ck.lines_2026_03 PARTITION OF ck.lines FOR VALUES FROM ('2026-03-01') TO ('2026-04-01')`);
    expect(await accepted(`INSERT INTO ck.lines VALUES (1, 20, '2026-03-10')`)).toBe(false);
    await q(`DROP TABLE ck.lines_2026_03`);
    // Nothing is left to generate.
    const again = await plan();
    expect(planTenancy(again.live, new Set(), again.extras).steps.filter((s) => s.kind === 'parent-key' || s.kind === 'composite-fk')).toEqual([]);

    const composite = files.filter((f) => f.phase === 'composite').length;
    const down = await runCli(['migrate', 'down', '--count', String(composite), '--force', '--config', config, '--database-url', db().url, '--migrations-dir', dir]);
    expect(down.code, down.stderr).toBe(0);
    for (const sql of crossTenant) expect(await accepted(sql), sql).toBe(true);
    // The single-column keys are back and validated: a missing parent is refused again.
    expect(await accepted(`INSERT INTO ck.lines VALUES (1, 999, '2026-01-12')`)).toBe(false);
    expect(await q(`SELECT count(*)::int AS n FROM pg_index WHERE indexrelid = to_regclass('ck.tickets_org_id_id_key')`)).toEqual([{ n: 0 }]);
  }, 120_000);

  it('skips a partitioned parent whose partition key UNIQUE (tenant, key) cannot hold, saying why and what to do', async () => {
    const { live, extras } = await plan();
    // What if tickets were partitioned by a column outside (org_id, id)? (PostgreSQL would not let its
    // single-column key exist then; the planner's rule is checked on the real catalog with that key.)
    const other = { ...extras, partitionKeys: new Map([...extras.partitionKeys!, ['tickets', ['created_at']]]) };
    const p = planTenancy(live, new Set(), other);
    expect(p.skipped).toEqual([
      {
        table: 'tickets',
        reason:
          'composite keys: partitioned tickets cannot get UNIQUE (org_id, id): PostgreSQL enforces a unique key on a partitioned table per partition, ' +
          'so it must hold every partition-key column, and tickets is partitioned by (created_at). Foreign keys to it stay single-column ' +
          "(a row can reference another tenant's tickets row by its key). What you can do: repartition it by the tenant column or by id " +
          '(generate then makes the key), or guard each reference with a constraint trigger (the row\'s tenant = the parent\'s), as generate does for polymorphic pairs',
      },
    ]);
    expect(p.steps.map(stepId).filter((id) => id.includes('ticket'))).toEqual([]);
    expect(p.steps.map(stepId)).toContain('composite-fk:lines:invoice_id');
    // The partition key not read at all: not generated either, and said so.
    expect(planTenancy(live).skipped.map((s) => s.reason)).toEqual([
      'composite keys: the partition key of partitioned tickets was not read (readPlanExtras), so UNIQUE (org_id, id) is not generated; foreign keys to it stay single-column',
    ]);
  });
});

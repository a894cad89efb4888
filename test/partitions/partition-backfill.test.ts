// backfill on partitioned tables: each leaf walked on its own (ctid pages without a primary key), recorded per partition; undo refuses keyless runs.
import { describe, expect, it } from 'vitest';
import { resolveLiveContext } from '../../src/config/live-context.js';
import { parseManifestText } from '../../src/config/manifest.js';
import { buildBackfillPlan } from '../../src/backfill/backfill-plan.js';
import { runBackfill } from '../../src/backfill/backfill-runner.js';
import { fillBatchSql } from '../../src/backfill/backfill-sql.js';
import { undoRun } from '../../src/undo/undo-runner.js';
import { useTestDatabase } from '../support/database.js';
import { ORG_A, ORG_B } from './fixture.js';

const MANIFEST = `
schema: pb
state_schema: pb_state
tenant: {table: orgs, key: id, column: org_id, setting: app.current_org}
roles: {app: [pb_app_unused]}
tables:
  customers: {}
  events: {backfill: [customer_id]}
  orders: {backfill: [customer_id]}
  logs: {}
`;

describe('backfill: partitioned tables', () => {
  const db = useTestDatabase();

  it('walks every leaf (keyless: by ctid pages), fills NULLs from the parent row, records the partition and ctid, skips what needs no fill', async () => {
    const c = db().client;
    await c.query(`
      CREATE SCHEMA pb;
      CREATE TABLE pb.orgs (id uuid PRIMARY KEY);
      INSERT INTO pb.orgs VALUES ('${ORG_A}'), ('${ORG_B}');
      CREATE TABLE pb.customers (id integer PRIMARY KEY, org_id uuid NOT NULL REFERENCES pb.orgs (id));
      INSERT INTO pb.customers VALUES (1, '${ORG_A}'), (2, '${ORG_B}');
      -- no primary key, nullable tenant, rows over several pages in each partition
      CREATE TABLE pb.events (customer_id integer REFERENCES pb.customers (id), org_id uuid REFERENCES pb.orgs (id),
                              body text NOT NULL, created_at date NOT NULL) PARTITION BY RANGE (created_at);
      CREATE TABLE pb.events_2026_01 PARTITION OF pb.events FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
      CREATE TABLE pb.events_2026_02 PARTITION OF pb.events FOR VALUES FROM ('2026-02-01') TO ('2026-03-01') PARTITION BY LIST (customer_id);
      CREATE TABLE pb.events_2026_02_c1 PARTITION OF pb.events_2026_02 FOR VALUES IN (1);
      CREATE TABLE pb.events_2026_02_rest PARTITION OF pb.events_2026_02 DEFAULT;
      INSERT INTO pb.events SELECT 1 + i % 2, NULL, repeat('x', 100), date '2026-01-01' + (i % 59) FROM generate_series(1, 600) i;
      INSERT INTO pb.events SELECT 1, '${ORG_A}', 'already', '2026-01-03' FROM generate_series(1, 5);
      -- a primary key (it must contain the partition key)
      CREATE TABLE pb.orders (id integer, created_at date, customer_id integer REFERENCES pb.customers (id), org_id uuid REFERENCES pb.orgs (id),
                              PRIMARY KEY (id, created_at)) PARTITION BY RANGE (created_at);
      CREATE TABLE pb.orders_2026 PARTITION OF pb.orders FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
      CREATE TABLE pb.orders_2027 PARTITION OF pb.orders FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
      INSERT INTO pb.orders SELECT i, date '2026-06-01' + i * 7, 1 + i % 2, NULL FROM generate_series(1, 80) i;
      -- no primary key, tenant NOT NULL: nothing to fill
      CREATE TABLE pb.logs (org_id uuid NOT NULL REFERENCES pb.orgs (id), line text) PARTITION BY HASH (org_id);
      CREATE TABLE pb.logs_0 PARTITION OF pb.logs FOR VALUES WITH (MODULUS 1, REMAINDER 0);
    `);
    const manifest = parseManifestText(MANIFEST);
    const plan = buildBackfillPlan(await resolveLiveContext(c, manifest));
    const planned = plan.groups.flatMap((g) => g.tables).map((t) => `${t.table}${t.keyless ? ' (ctid)' : ` (${t.key.map((k) => k.name).join(', ')})`}`);
    expect(planned).toEqual([
      'customers (id)',
      'events_2026_01 (ctid)',
      'events_2026_02_c1 (ctid)',
      'events_2026_02_rest (ctid)',
      'orders_2026 (id, created_at)',
      'orders_2027 (id, created_at)',
      'logs_0 (ctid)',
    ]);

    const nulls = (
      await c.query(
        `SELECT tableoid::regclass::text AS leaf, count(*)::int AS n FROM pb.events WHERE org_id IS NULL GROUP BY 1
         UNION ALL SELECT tableoid::regclass::text, count(*)::int FROM pb.orders WHERE org_id IS NULL GROUP BY 1 ORDER BY 1`,
      )
    ).rows.map((r) => [r.leaf.replace('pb.', ''), r.n]);
    expect(nulls).toHaveLength(5);
    const dry = await runBackfill({ client: c, manifest, dryRun: true });
    expect(dry.skippedTables.map((s) => s.table)).toEqual(['logs']);
    expect(dry.tables.filter((t) => t.filled > 0).map((t) => [t.table, t.filled]).sort()).toEqual(nulls);

    const result = await runBackfill({ client: c, manifest, batchSize: 50, targetBatchMs: 0 });
    expect(result.ok).toBe(true);
    expect(result.skippedTables).toEqual([{ table: 'logs', reason: expect.stringContaining('has no primary key and org_id is NOT NULL: nothing to fill') }]);
    const left = await c.query(`SELECT (SELECT count(*) FROM pb.events WHERE org_id IS NULL)::int AS e, (SELECT count(*) FROM pb.orders WHERE org_id IS NULL)::int AS o`);
    expect(left.rows[0]).toEqual({ e: 0, o: 0 });
    const wrong = await c.query(`SELECT count(*)::int AS n FROM pb.events e JOIN pb.customers k ON k.id = e.customer_id WHERE e.org_id <> k.org_id`);
    expect(wrong.rows[0].n).toBe(0);

    // Recorded per leaf partition; a keyless row by its ctid after the change, which addresses it.
    const recorded = await c.query(
      `SELECT table_name, sum(rows)::int AS n, count(*)::int AS batches FROM pb_state.backfill_changes WHERE run_id = $1 GROUP BY 1 ORDER BY 1`,
      [result.runId],
    );
    expect(recorded.rows.map((r) => [r.table_name, r.n])).toEqual(nulls);
    expect(recorded.rows.find((r) => r.table_name === 'events_2026_01').batches).toBeGreaterThan(1);
    const addressed = await c.query(
      `SELECT count(*)::int AS n FROM pb_state.backfill_changes ch, jsonb_array_elements(ch.keys) WITH ORDINALITY k(key, i)
         JOIN pb.events_2026_01 e ON e.ctid = (k.key ->> 'ctid')::tid
        WHERE ch.run_id = $1 AND ch.table_name = 'events_2026_01' AND to_jsonb(e.org_id) = ch.new_values -> (k.i::int - 1)`,
      [result.runId],
    );
    expect(addressed.rows[0].n).toBe(nulls[0][1]);

    // undo: a run that changed keyless rows is refused as a whole, naming the table; nothing is undone.
    await expect(undoRun({ client: c, manifest, runId: result.runId! })).rejects.toThrow(/events_2026_0\S+ has no primary key; undo needs one/);
    expect((await c.query(`SELECT count(*)::int AS n FROM pb.events WHERE org_id IS NULL`)).rows[0].n).toBe(0);

    // The batch is a TID range scan of one leaf (PostgreSQL 14+): it reads only its pages.
    const leaf = plan.groups.flatMap((g) => g.tables).find((t) => t.table === 'events_2026_01')!;
    const explain = await c.query(`EXPLAIN ${fillBatchSql(leaf, 'pb_state', true, true).replaceAll('$1', "'00000000-0000-0000-0000-000000000000'::uuid").replace(/\$([2-4])/g, "'x'").replace('$5', "'(0,0)'").replace('$6', "'(1,0)'")}`);
    expect(explain.rows.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/Tid Range Scan on events_2026_01 t/);

    // Two-sided: a row no source can place stays NULL and is reported by partition and ctid.
    await c.query(`INSERT INTO pb.events VALUES (NULL, NULL, 'orphan', '2026-01-09')`);
    const orphan = await runBackfill({ client: c, manifest, table: 'events' });
    expect(orphan.ok).toBe(false);
    expect(orphan.orphans).toEqual([{ table: 'events_2026_01', key: { ctid: expect.stringMatching(/^\(\d+,\d+\)$/) }, candidates: [] }]);
    await c.query(`DELETE FROM pb.events WHERE body = 'orphan'`);

    // A partitioned table with a primary key, in a run of its own, is undone leaf by leaf.
    await c.query(`UPDATE pb.orders SET org_id = NULL WHERE id <= 10`);
    const orders = await runBackfill({ client: c, manifest, table: 'orders' });
    expect(orders.ok).toBe(true);
    const undone = await undoRun({ client: c, manifest, runId: orders.runId! });
    expect(undone.steps.map((s) => [s.table, s.restored])).toEqual([['orders_2026', 10]]);
    expect((await c.query(`SELECT count(*)::int AS n FROM pb.orders WHERE org_id IS NULL`)).rows[0].n).toBe(10);
  });
});

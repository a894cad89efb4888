// generate → migrate on a partitioned table without a primary key (the SaaS fixture's events, 4 partitions):
// column on the parent, FK and indexes partition by partition and attached, NOT NULL through the parent.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveLiveContext } from '../../src/config/live-context.js';
import { parseManifest } from '../../src/config/manifest.js';
import { readPlanExtras } from '../../src/migrate/plan-extras.js';
import { planTenancy, stepId } from '../../src/migrate/plan.js';
import { renderMigrations } from '../../src/migrate/render.js';
import { loadSampleSaas } from '../../src/sample/sample-saas.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { squawk, useTempDirs } from './support.js';

const PARTITIONS = ['events_default', 'events_p2026_10', 'events_p2026_11', 'events_p2026_12'];

describe('generate → migrate on a partitioned table', () => {
  const db = useTestDatabase();
  const tempDir = useTempDirs();
  const q = async (sql: string) => (await db().client.query(sql)).rows;
  const raw = (unique: string[][]) => ({
    schema: 'public',
    tenant: { table: 'organizations', key: 'id', column: 'organization_id', setting: 'app.org' },
    roles: { app: ['saas_app'] },
    tables: { events: { unique } },
  });
  const plan = async (unique: string[][]) => {
    const manifest = parseManifest(raw(unique));
    const live = await resolveLiveContext(db().client, manifest);
    return { live, plan: planTenancy(live, new Set(), await readPlanExtras(db().client, live)) };
  };

  beforeAll(async () => {
    await loadSampleSaas(db().client, { modules: 0 });
    // The table as it was before tenancy: no tenant column, so every step is needed.
    // (DROP COLUMN rewrites nothing: the rows keep their ctid, so the test can put each tenant back.)
    await q(`CREATE TABLE saved_tenants AS SELECT tableoid AS part, ctid AS row, organization_id FROM events`);
    await q(`ALTER TABLE events DROP COLUMN organization_id`);
  }, 60_000);

  it('a unique key without the partition key is skipped with the reason; with it, it is planned', async () => {
    const without = await plan([['name']]);
    expect(without.plan.skipped).toEqual([
      { table: 'events', reason: 'unique key (organization_id, name): on a partitioned table a unique key must hold every partition-key column' },
    ]);
    const withKey = await plan([['created_at']]);
    expect(withKey.plan.skipped).toEqual([]);
    expect(withKey.plan.steps.map(stepId)).toEqual([
      'column:events', 'fk:events', 'index:events', 'fk-valid:events', 'not-null:events', 'unique:events:["organization_id","created_at"]',
    ]);
  });

  it('migrate builds it all partition by partition; new partitions inherit it; down undoes it', async () => {
    const { live, plan: p } = await plan([['created_at']]);
    const files = renderMigrations(live, p.steps, { firstIndex: 1 });
    const dir = await tempDir();
    for (const f of files) await writeFile(path.join(dir, f.fileName), f.text);
    const config = path.join(dir, 'tenancy.json.yaml');
    await writeFile(config, JSON.stringify(raw([['created_at']])));
    const index = files.find((f) => f.phase === 'index')!.text;
    expect(index).toContain('CREATE INDEX IF NOT EXISTS "events_organization_id_idx"\n  ON ONLY "public"."events" ("organization_id");');
    for (const part of PARTITIONS) {
      expect(index).toContain(`CREATE INDEX CONCURRENTLY IF NOT EXISTS "${part}_organization_id_idx"\n  ON "public"."${part}" ("organization_id");`);
      expect(index).toContain(`ALTER INDEX "public"."events_organization_id_idx" ATTACH PARTITION "public"."${part}_organization_id_idx";`);
    }
    expect(files.find((f) => f.phase === 'expand')!.text).not.toMatch(/ALTER TABLE "public"\."events" [^\n]*\n[^\n]*ADD CONSTRAINT[^\n]*\n[^\n]*NOT VALID/);

    const lint = await squawk(files.map((f) => path.join(dir, f.fileName)));
    expect(lint.out).toBe('');
    const cli = () => runCli(['migrate', '--config', config, '--database-url', db().url, '--migrations-dir', dir, '--json']);
    const refused = await cli();
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout).refused.map((r: { table: string; problem: string }) => `${r.problem} ${r.table}`)).toEqual(['null-tenant events']);
    // The parent's index is valid already: every partition's index is attached.
    expect(await q(`SELECT indisvalid AS v FROM pg_index WHERE indexrelid = 'events_organization_id_idx'::regclass`)).toEqual([{ v: true }]);
    // Fill by SQL (what backfill does), then the same migrate completes.
    await q(`UPDATE events e SET organization_id = s.organization_id FROM saved_tenants s WHERE s.part = e.tableoid AND s.row = e.ctid`);
    expect(await q(`SELECT count(*)::int AS n FROM events WHERE organization_id IS NULL`)).toEqual([{ n: 0 }]);
    const done = await cli();
    expect(done.code, done.stdout).toBe(0);
    expect(JSON.parse(done.stdout).refused).toEqual([]);

    const fks = await q(`SELECT conrelid::regclass::text AS t, convalidated AS v, conparentid <> 0 AS attached FROM pg_constraint
                          WHERE contype = 'f' AND conname = 'events_organization_id_fkey' ORDER BY 1`);
    expect(fks).toEqual([{ t: 'events', v: true, attached: false }, ...PARTITIONS.map((t) => ({ t, v: true, attached: true }))]);
    const notNull = await q(`SELECT count(*)::int AS n FROM pg_attribute WHERE attname = 'organization_id' AND attnotnull
                              AND attrelid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'events'::regclass UNION SELECT 'events'::regclass)`);
    expect(notNull[0].n).toBe(5);
    const key = await q(`SELECT indisvalid AS v, indisunique AS u FROM pg_index WHERE indexrelid = 'events_organization_id_created_at_key'::regclass`);
    expect(key).toEqual([{ v: true, u: true }]);
    // Enforced on every partition: an unknown tenant, a NULL tenant and a duplicate are rejected.
    await expect(q(`INSERT INTO events (organization_id, name, created_at) VALUES (gen_random_uuid(), 'x', '2026-10-05')`)).rejects.toThrow(/foreign key/);
    await expect(q(`INSERT INTO events (name, created_at) VALUES ('x', '2027-05-05')`)).rejects.toThrow(/null value/);
    await expect(q(`INSERT INTO events (organization_id, name, created_at) SELECT organization_id, 'dup', created_at FROM events LIMIT 1`)).rejects.toThrow(/duplicate key/);
    // A partition created afterwards (pg_partman maintenance) gets the index, the key and the FK at once.
    await q(`ALTER TABLE events DETACH PARTITION events_default`);
    await q(`CREATE TABLE events_p2027_01 PARTITION OF events FOR VALUES FROM ('2027-01-01') TO ('2027-02-01')`);
    const inherited = await q(`SELECT (SELECT count(*)::int FROM pg_index WHERE indrelid = 'events_p2027_01'::regclass) AS indexes,
                                      (SELECT count(*)::int FROM pg_constraint WHERE conrelid = 'events_p2027_01'::regclass AND contype = 'f') AS fks`);
    expect(inherited).toEqual([{ indexes: 2, fks: 1 }]);
    await q(`DROP TABLE events_p2027_01; ALTER TABLE events ATTACH PARTITION events_default DEFAULT`);
    // Nothing is left to generate.
    expect((await plan([['created_at']])).plan.steps).toEqual([]);

    const down = await runCli(['migrate', 'down', '--count', String(files.length), '--force', '--config', config, '--database-url', db().url, '--migrations-dir', dir]);
    expect(down.code, down.stderr).toBe(0);
    expect(await q(`SELECT count(*)::int AS n FROM pg_attribute WHERE attrelid = 'events'::regclass AND attname = 'organization_id' AND NOT attisdropped`)).toEqual([{ n: 0 }]);
  }, 120_000);
});

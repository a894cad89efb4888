// Direct lookups (src/audit/direct-lookup.ts): an integer-keyed parent's tenant read from an array
// instead of a hash join. Per parent shape: the form the run picks, and the same counts and samples
// as the join form of the same scan, on the same rows; the array is built in key order (no parallel
// split of its aggregate); the audit's findings equal the plain join queries' counts.
import { describe, expect, it } from 'vitest';
import { loadChecks } from '../../src/audit/check-definitions.js';
import { planDataChecks } from '../../src/audit/check-registry.js';
import { fuseGroup, fuseScans } from '../../src/audit/data-checks.js';
import { chooseShape, lookupCteBody, lookupSpec, MAX_FILL_ENTRIES, MAX_LOOKUP_BYTES, probeLookup, type LookupShape } from '../../src/audit/direct-lookup.js';
import { runAudit } from '../../src/audit/runner.js';
import { parseManifest } from '../../src/config/manifest.js';
import { findRelation, readCatalog } from '../../src/db/catalog.js';
import { ident } from '../../src/db/quote.js';
import { useTestDatabase } from '../support/database.js';

// Parents: dense (gap-free: compact), gappy (small span: fill), wide (span too large: join), high
// (bigint keys past 2^32, gap-free: compact), clash (a tenant equal to the "no row" mark: join).
const PARENTS = ['dense', 'gappy', 'wide', 'high', 'clash'] as const;
const manifest = parseManifest({
  schema: 'dl',
  tenant: { table: 'companies', key: 'id', column: 'company_id', setting: 'app.tenant' },
  roles: { app: ['crm_app_never_created'] },
  tables: Object.fromEntries([...PARENTS, 'child'].map((t) => [t, null])),
});

const SCHEMA = `CREATE SCHEMA dl;
  CREATE TABLE dl.companies (id integer PRIMARY KEY);
  INSERT INTO dl.companies VALUES (1), (2), (5);                        -- gaps: a filled lookup
  CREATE TABLE dl.dense (id integer PRIMARY KEY, company_id integer);
  INSERT INTO dl.dense SELECT g, 1 + g % 2 FROM generate_series(1, 3000) g;
  UPDATE dl.dense SET company_id = NULL WHERE id = 7;                   -- a parent without tenant
  CREATE TABLE dl.gappy (id integer PRIMARY KEY, company_id integer);
  INSERT INTO dl.gappy SELECT g, 1 + g % 2 FROM generate_series(1, 3000) g WHERE g % 3 <> 0;
  CREATE TABLE dl.wide (id bigint PRIMARY KEY, company_id integer);
  INSERT INTO dl.wide VALUES (1, 1), (2, 2), (${MAX_LOOKUP_BYTES / 4 + 10}, 1);  -- span past the byte cap (int4 tenants)
  CREATE TABLE dl.high (id bigint PRIMARY KEY, company_id integer);
  INSERT INTO dl.high SELECT 5000000000 + g, 1 + g % 2 FROM generate_series(0, 999) g;
  CREATE TABLE dl.clash (id integer PRIMARY KEY, company_id integer);
  INSERT INTO dl.clash VALUES (1, 1), (2, 2), (3, -2147483648);
  CREATE TABLE dl.child (id integer PRIMARY KEY, company_id integer,
    dense_id integer, gappy_id integer, wide_id bigint, high_id bigint, clash_id integer);
  ALTER TABLE dl.child ADD FOREIGN KEY (dense_id) REFERENCES dl.dense NOT VALID,
    ADD FOREIGN KEY (gappy_id) REFERENCES dl.gappy NOT VALID, ADD FOREIGN KEY (wide_id) REFERENCES dl.wide NOT VALID,
    ADD FOREIGN KEY (high_id) REFERENCES dl.high NOT VALID, ADD FOREIGN KEY (clash_id) REFERENCES dl.clash NOT VALID;
  -- Good rows: each dense key names a parent row of the child's own tenant (same parity).
  INSERT INTO dl.child SELECT g, 1 + g % 2, 2 * (g % 1000) + 2 - g % 2, NULL, NULL, NULL, NULL FROM generate_series(1, 5000) g;`;

/** Every reference, bad or harmless, that the lookup must read as the join does (dangling ones written as a restore would, skipping the FK triggers). */
const PLANT = `SET session_replication_role = replica;
  UPDATE dl.child SET dense_id = CASE WHEN company_id = 1 THEN 1 ELSE 2 END WHERE id BETWEEN 1 AND 6;  -- rows 1, 2 are of tenants 2, 1: cross
  UPDATE dl.child SET dense_id = 7 WHERE id = 10;               -- parent without tenant: not counted
  UPDATE dl.child SET dense_id = 3001 WHERE id = 11;            -- past the range, no parent (NOT VALID FK)
  UPDATE dl.child SET dense_id = -5 WHERE id = 12;              -- before the range
  UPDATE dl.child SET company_id = NULL WHERE id = 13;          -- child without tenant
  UPDATE dl.child SET company_id = 9 WHERE id IN (14, 15);      -- unknown tenants (9: past the keys); their dense_id: cross too
  UPDATE dl.child SET company_id = 3 WHERE id = 16;             -- unknown tenant in a gap of the keys
  UPDATE dl.child SET gappy_id = 3 WHERE id = 20;               -- in a gap: no parent
  UPDATE dl.child SET gappy_id = CASE WHEN company_id = 1 THEN 1 ELSE 2 END WHERE id BETWEEN 21 AND 28;
  UPDATE dl.child SET wide_id = CASE WHEN company_id = 1 THEN 2 ELSE 1 END WHERE id IN (30, 31, 4999);
  UPDATE dl.child SET high_id = 5000000000 + CASE WHEN company_id = 1 THEN 1 ELSE 0 END WHERE id IN (40, 41, 42);
  UPDATE dl.child SET high_id = 5000000000 + 1000 WHERE id = 43;  -- past the range
  UPDATE dl.child SET high_id = 3 WHERE id = 44;                  -- far below it
  UPDATE dl.child SET clash_id = CASE WHEN company_id = 1 THEN 2 ELSE 1 END WHERE id IN (50, 51);
  UPDATE dl.child SET clash_id = 3 WHERE id = 52;                -- the mark is a real tenant here: cross
  RESET session_replication_role;`;

/** The plain join count of each FK (what the naive script would print). */
const joinCounts = PARENTS.map(
  (p) => `SELECT '${p}' AS name, count(*)::int AS n FROM dl.child t JOIN dl.${p} q ON q.id = t.${p}_id WHERE q.company_id <> t.company_id`,
).join(' UNION ALL ');

describe('direct lookups instead of hash joins', () => {
  const db = useTestDatabase();
  const sql = (text: string, values?: unknown[]) => db().client.query(text, values);

  it('picks the array where it pays and the join elsewhere; both forms count and sample alike', async () => {
    await sql(SCHEMA);
    await sql(PLANT);
    await sql('ANALYZE');
    const checks = (await loadChecks()).filter((c) => ['cross-tenant-reference', 'unknown-tenant', 'null-tenant'].includes(c.id));
    const catalog = await readCatalog(db().client, ['dl']);
    const scans = fuseScans(planDataChecks(manifest, catalog, checks).scans).filter((s) => s.pieces?.some((p) => p.fuse?.lookup));
    expect(scans.length).toBeGreaterThan(0);

    await sql('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const kinds: Record<string, string> = {};
    try {
    for (const scan of scans) {
      const shapes = new Map<string, LookupShape>();
      for (const piece of scan.pieces!) {
        const lookup = piece.fuse!.lookup;
        if (!lookup) continue;
        const shape = chooseShape(await probeLookup(db().client, lookup.spec), piece.fuse!.rows, lookup.spec.width);
        kinds[lookup.spec.table] = shape?.kind ?? 'join';
        if (shape) shapes.set(lookup.spec.id, shape);
      }
      const direct = fuseGroup(scan.pieces!, shapes);
      const joined = fuseGroup(scan.pieces!);
      if (shapes.size > 0) expect(direct.sql).not.toEqual(joined.sql);
      const a = (await sql(direct.sql, direct.values)).rows;
      const b = (await sql(joined.sql, joined.values)).rows;
      expect(a).toEqual(b);
    }
    } finally {
      await sql('ROLLBACK');
    }
    expect(kinds).toEqual({ '"dl"."companies"': 'fill', '"dl"."dense"': 'compact', '"dl"."gappy"': 'fill', '"dl"."wide"': 'join', '"dl"."high"': 'compact', '"dl"."clash"': 'join' });

    // The audit end to end: each FK's count is the plain join's; the tenants, the not-exists' count.
    const expected = Object.fromEntries((await sql(joinCounts)).rows.map((r: { name: string; n: number }) => [`${r.name}`, r.n]));
    expect(expected).toEqual({ dense: 9, gappy: 8, wide: 3, high: 3, clash: 3 });
    const result = await runAudit({ databaseUrl: db().url, manifest, only: ['cross-tenant-reference', 'unknown-tenant'] });
    const found = Object.fromEntries(result.findings.map((f) => [f.check === 'unknown-tenant' ? `unknown ${f.table}` : f.object!.replace(/^child_(.*)_id_fkey$/, '$1'), f.count]));
    // Unknown tenants: the child's 9, 9 and 3 (in a gap of the keys); clash's parent row whose tenant is the mark.
    expect(found).toEqual({ ...expected, 'unknown dl.child': 3, 'unknown dl.clash': 1 });

    // Fixed: nothing, either way.
    await sql(`UPDATE dl.child SET dense_id = NULL, gappy_id = NULL, wide_id = NULL, high_id = NULL, clash_id = NULL;
      UPDATE dl.child SET company_id = 1 WHERE company_id IS DISTINCT FROM 1 AND company_id IS DISTINCT FROM 2;
      UPDATE dl.clash SET company_id = 1 WHERE id = 3`);
    expect((await runAudit({ databaseUrl: db().url, manifest, only: ['cross-tenant-reference', 'unknown-tenant'] })).findings).toEqual([]);
  });

  it('joins inside a READ COMMITTED transaction (a snapshot per statement), looks up in REPEATABLE READ', async () => {
    await sql(`CREATE SCHEMA rc; CREATE TABLE rc.p (id integer PRIMARY KEY, v integer); INSERT INTO rc.p SELECT g, g FROM generate_series(1, 100) g`);
    const spec = lookupSpec('"rc"."p"', findRelation(await readCatalog(db().client, ['rc']), 'rc', 'p')!, 'id', 'v')!;
    const shapeIn = async (isolation: string) => {
      await sql(`BEGIN ISOLATION LEVEL ${isolation}`);
      try {
        return chooseShape(await probeLookup(db().client, spec), 0, spec.width)?.kind ?? 'join';
      } finally {
        await sql('ROLLBACK');
      }
    };
    expect(await shapeIn('READ COMMITTED')).toBe('join');
    expect(await shapeIn('REPEATABLE READ')).toBe('compact');
    // The audit on a caller's client inside its READ COMMITTED transaction counts as the join does.
    await sql(`CREATE TABLE rc.companies (id integer PRIMARY KEY); INSERT INTO rc.companies VALUES (1), (2);
      CREATE TABLE rc.c (id integer PRIMARY KEY, company_id integer, p_id integer REFERENCES rc.p);
      INSERT INTO rc.c SELECT g, 1 + g % 2, g FROM generate_series(1, 100) g`);
    const m = parseManifest({ schema: 'rc', tenant: { table: 'companies', key: 'id', column: 'company_id', setting: 'app.tenant' }, roles: { app: ['crm_app_never_created'] }, tables: { c: null } });
    await sql('BEGIN ISOLATION LEVEL READ COMMITTED');
    try {
      const r = await runAudit({ client: db().client, manifest: m, only: ['unknown-tenant'] });
      expect(r.findings).toEqual([]);
    } finally {
      await sql('ROLLBACK');
    }
  });

  it('chooses by gaps, span and the "no row" mark', () => {
    const s = (rows: number, lo: number, hi: number, clash = 0) => ({ rows: BigInt(rows), lo: BigInt(lo), hi: BigInt(hi), clash: BigInt(clash) });
    expect(chooseShape(s(100, 1, 100), 0, 4)?.kind).toBe('compact');
    expect(chooseShape(s(99, 1, 100), 0, 4)?.kind).toBe('fill');
    expect(chooseShape(s(10, 1, MAX_FILL_ENTRIES), 0, 4)?.kind).toBe('fill');
    expect(chooseShape(s(10, 1, MAX_FILL_ENTRIES + 1), 0, 4)).toBeNull();
    expect(chooseShape(s(10, 1, MAX_FILL_ENTRIES + 1), 4 * (MAX_FILL_ENTRIES + 1), 4)?.kind).toBe('fill');
    const cap = MAX_LOOKUP_BYTES / 4; // entries of an int4 tenant
    expect(chooseShape(s(cap, 1, cap), 0, 4)?.kind).toBe('compact');
    expect(chooseShape(s(cap + 1, 1, cap + 1), 0, 4)).toBeNull();
    expect(chooseShape(s(cap + 1, 1, cap + 1), 0, 2)?.kind).toBe('compact'); // int2: half the bytes
    expect(chooseShape(s(cap, 1, cap), 0, 8)).toBeNull(); // int8: twice
    expect(chooseShape(s(100, 1, 100, 1), 0, 4)).toBeNull();
    expect(chooseShape({ rows: 0n, lo: null, hi: null, clash: 0n }, 0, 4)).toBeNull();
    expect(chooseShape({ ...s(100, 1, 100), citus: true }, 0, 4)).toBeNull();
  });

  it('builds the array in key order, never split over parallel workers, whatever the physical order', async () => {
    await sql(`CREATE SCHEMA ord; CREATE TABLE ord.p (id integer PRIMARY KEY, v integer);
      INSERT INTO ord.p SELECT g, g FROM generate_series(1, 200000) g ORDER BY random();
      ANALYZE ord.p`);
    const catalog = await readCatalog(db().client, ['ord']);
    const spec = lookupSpec('"ord"."p"', findRelation(catalog, 'ord', 'p')!, 'id', 'v')!;
    const body = lookupCteBody(spec, { kind: 'compact', lo: '1', hi: '200000' }, '$1', '$2');
    await sql(`BEGIN; SET LOCAL parallel_setup_cost = 0; SET LOCAL parallel_tuple_cost = 0; SET LOCAL min_parallel_table_scan_size = 0;
      SET LOCAL min_parallel_index_scan_size = 0; SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off`);
    let plan: string;
    let rows: unknown[];
    try {
      plan = (await sql(`EXPLAIN ${body}`)).rows.map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN']).join('\n');
      rows = (await sql(`SELECT (SELECT bool_and(s.a[i] = i) FROM generate_subscripts(s.a, 1) i) AS ordered, cardinality(s.a) AS n FROM (${body}) s`)).rows;
    } finally {
      await sql('ROLLBACK');
    }
    expect(plan).toMatch(/Gather/); // parallel workers read the table ...
    expect(plan).not.toMatch(/Partial Aggregate/); // ... and hand the rows over in key order to one aggregate
    expect(rows).toEqual([{ ordered: true, n: 200000 }]);
  });
  // (The manifest refuses names with a newline or other control character, with one clear error.)
  it('hostile names: the lookup form is inert SQL and counts what the join counts', async () => {
    const n = { schema: 'dl "x"; -- */ ü', tenants: 'ten*/ants', parent: "par'ent --", child: 'chi"ld /*', tenant: 'org;id', key: 'k "1"', fk: 'p--id' };
    const q = (t: string) => `${ident(n.schema)}.${ident(t)}`;
    await sql(`CREATE SCHEMA ${ident(n.schema)};
      CREATE TABLE ${q(n.tenants)} (${ident(n.key)} bigint PRIMARY KEY);
      INSERT INTO ${q(n.tenants)} VALUES (1), (2);
      CREATE TABLE ${q(n.parent)} (${ident(n.key)} bigint PRIMARY KEY, ${ident(n.tenant)} bigint);
      INSERT INTO ${q(n.parent)} SELECT g, 1 + g % 2 FROM generate_series(1, 100) g;
      CREATE TABLE ${q(n.child)} (${ident(n.key)} bigint PRIMARY KEY, ${ident(n.tenant)} bigint, ${ident(n.fk)} bigint);
      ALTER TABLE ${q(n.child)} ADD FOREIGN KEY (${ident(n.fk)}) REFERENCES ${q(n.parent)} NOT VALID;
      INSERT INTO ${q(n.child)} SELECT g, 1 + g % 2, g FROM generate_series(1, 100) g;
      UPDATE ${q(n.child)} SET ${ident(n.fk)} = ${ident(n.fk)} + 1 WHERE ${ident(n.key)} IN (10, 20);
      UPDATE ${q(n.child)} SET ${ident(n.tenant)} = 7 WHERE ${ident(n.key)} = 30`);
    const m = parseManifest({
      schema: n.schema,
      tenant: { table: n.tenants, key: n.key, column: n.tenant, setting: 'app.tenant' },
      roles: { app: ['crm_app_never_created'] },
      tables: { [n.parent]: null, [n.child]: null },
    });
    const checks = (await loadChecks()).filter((c) => ['cross-tenant-reference', 'unknown-tenant'].includes(c.id));
    const catalog = await readCatalog(db().client, [n.schema]);
    const [scan] = fuseScans(planDataChecks(m, catalog, checks).scans).filter((x) => x.target.startsWith(n.child));
    const shapes = new Map<string, LookupShape>();
    await sql('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      for (const piece of scan.pieces!) {
        const spec = piece.fuse!.lookup!.spec;
        shapes.set(spec.id, chooseShape(await probeLookup(db().client, spec), 0, spec.width)!);
      }
      expect([...shapes.values()].map((x) => x.kind)).toEqual(['compact', 'compact']);
      const direct = fuseGroup(scan.pieces!, shapes);
      const joined = fuseGroup(scan.pieces!);
      expect((await sql(direct.sql, direct.values)).rows).toEqual((await sql(joined.sql, joined.values)).rows);
    } finally {
      await sql('ROLLBACK');
    }
    const result = await runAudit({ databaseUrl: db().url, manifest: m, only: ['cross-tenant-reference', 'unknown-tenant'] });
    // Rows 10 and 20 point at the next parent (the other tenant); row 30's tenant 7 is unknown and so crosses too.
    expect(result.findings.map((f) => `${f.check} ${f.count}`).sort()).toEqual(['cross-tenant-reference 3', 'unknown-tenant 1']);
  });
});

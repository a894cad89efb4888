// generate --target citus on a real Citus cluster: the sample CRM through audit → generate → migrate (distribute phase) → policies → rows per tenant.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAudit } from '../../src/audit/runner.js';
import { runBackfill } from '../../src/backfill/backfill-runner.js';
import { loadManifest, type Manifest } from '../../src/config/manifest.js';
import { runDedupe } from '../../src/dedupe/dedupe-runner.js';
import { ident } from '../../src/db/quote.js';
import { generateMigrations, runMigrate } from '../../src/migrate/index.js';
import { applyPolicies } from '../../src/policies/apply.js';
import { loadSampleCrm, SAMPLE_MANIFEST } from '../../src/sample/sample-crm.js';
import { CITUS_URL, citusScratch, skipMessage } from './citus-support.js';

const skip = skipMessage('distribute phase on Citus');

describe.skipIf(Boolean(skip))('generate --target citus on a Citus cluster (sample CRM)', () => {
  let scratch: Awaited<ReturnType<typeof citusScratch>>;
  let workDir: string;
  let manifest: Manifest;
  const url = CITUS_URL!;
  beforeAll(async () => {
    scratch = await citusScratch();
    workDir = await mkdtemp(path.join(os.tmpdir(), 'crmt-citus-'));
    await loadSampleCrm(scratch.client, { schema: scratch.schema });
    const app = await scratch.role('app');
    const support = await scratch.role('support');
    const sample = await loadManifest(SAMPLE_MANIFEST);
    manifest = {
      ...sample,
      schema: scratch.schema,
      stateSchema: `${scratch.schema}_state`,
      roles: { app: [app], bypass: [{ role: support, reason: 'support console' }] },
      exempt: sample.exempt.map((e) => (e.name === 'roles' || e.name === 'teams' ? { ...e, reference: true } : e)),
      distribution: 'citus',
    };
  });
  afterAll(async () => {
    await scratch?.cleanup();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });
  const migrationsDir = () => path.join(workDir, 'migrations');
  const policiesDir = () => path.join(workDir, 'policies');
  /** The composite phase's UNIQUE (company_id, id) constraints, by name, from its migration file. */
  const compositeUniques = async () => {
    const files = (await readdir(migrationsDir())).filter((f) => f.endsWith('_tenancy-composite.sql'));
    const text = (await Promise.all(files.map((f) => readFile(path.join(migrationsDir(), f), 'utf8')))).join('\n');
    return [...text.matchAll(/ADD CONSTRAINT "([^"]+)" UNIQUE USING INDEX/g)].map((m) => m[1]).sort();
  };
  /** Per table of the schema: the unique indexes on exactly (company_id, id), and how many back a primary key. */
  const tenantIdIndexes = async () =>
    (
      await scratch.client.query<{ name: string; n: number; pk: number }>(
        `SELECT c.relname::text AS name, count(*)::int AS n, count(*) FILTER (WHERE i.indisprimary)::int AS pk
           FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace ns ON ns.oid = c.relnamespace
          WHERE ns.nspname = $1 AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
            AND i.indnatts = 2 AND i.indkey[0] = (SELECT a.attnum FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'company_id')
            AND i.indkey[1] = (SELECT a.attnum FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'id')
          GROUP BY 1 ORDER BY 1`,
        [scratch.schema],
      )
    ).rows;
  /** The PRIMARY KEY, or the UNIQUE (company_id, id…) constraints, of the schema's tables (table, name, definition). */
  const keys = async (type: 'p' | 'u') =>
    (
      await scratch.client.query<{ tbl: string; name: string; def: string }>(
        `SELECT c.relname::text AS tbl, con.conname::text AS name, pg_get_constraintdef(con.oid) AS def
           FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace ns ON ns.oid = c.relnamespace
          WHERE ns.nspname = $1 AND con.contype = $2 AND ($2 = 'p' OR pg_get_constraintdef(con.oid) LIKE 'UNIQUE (company_id, id)%') ORDER BY 1, 2`,
        [scratch.schema, type],
      )
    ).rows;
  const citusChecks = async () => {
    const r = await runAudit({ databaseUrl: url, manifest, concurrency: 1 });
    return r.findings.filter((f) => f.check.startsWith('citus-'));
  };

  it('before: audit --target citus names the blockers', async () => {
    const found = await citusChecks();
    const by = (check: string) => found.filter((f) => f.check === check).map((f) => `${f.table?.split('.')[1]} ${f.object ?? ''}`.trim());
    expect(by('citus-key-without-tenant')).toContain('deals deals_pkey');
    expect(by('citus-fk-without-tenant')).toContain('deals deals_contact_id_fkey');
    // The exempt sessions reference users: the one blocker only a person can decide.
    expect(by('citus-foreign-key-placement')).toEqual(['sessions sessions_user_id_fkey']);
    expect(by('citus-small-sequence').length).toBeGreaterThan(0);
  });

  it('generate writes the distribute phase last; migrate runs it on the coordinator', async () => {
    // The fix of that blocker: the session keeps user_id, the application checks it.
    await scratch.client.query(`ALTER TABLE ${ident(scratch.schema)}.sessions DROP CONSTRAINT sessions_user_id_fkey`);
    const g = await generateMigrations({ databaseUrl: url, manifest, migrationsDir: migrationsDir(), policiesDir: policiesDir() });
    const phases = g.files.map((f) => f.phase);
    expect([...new Set(phases)]).toEqual(['expand', 'index', 'validate', 'composite', 'distribute']);
    expect(phases.filter((p) => p === 'distribute')).toHaveLength(1);
    const files = (await readdir(migrationsDir())).sort();
    const distribute = await readFile(path.join(migrationsDir(), files[files.length - 1]), 'utf8');
    expect(files[files.length - 1]).toMatch(/_tenancy-distribute\.sql$/);
    expect(distribute).toContain(`PERFORM create_reference_table('"${scratch.schema}"."roles"')`);
    expect(distribute).toContain(`PERFORM create_distributed_table('"${scratch.schema}"."companies"', 'id');`);
    expect(distribute).toContain(`PERFORM create_distributed_table('"${scratch.schema}"."deals"', 'company_id', colocate_with => '"${scratch.schema}"."companies"');`);
    // Parents first: contacts before deals, deals before activities.
    expect(distribute.indexOf(`"${scratch.schema}"."contacts"', 'company_id'`)).toBeLessThan(distribute.indexOf(`"${scratch.schema}"."deals"', 'company_id'`));
    expect(distribute.indexOf(`"${scratch.schema}"."deals"', 'company_id'`)).toBeLessThan(distribute.indexOf(`"${scratch.schema}"."activities"', 'company_id'`));
    const policy = await readFile(path.join(policiesDir(), 'deals.sql'), 'utf8');
    expect(policy).toContain(`USING ("company_id" = nullif(current_setting('app.current_company_id', true), '')::integer)`);

    const first = await runMigrate({ databaseUrl: url, manifest, migrationsDir: migrationsDir(), direction: 'up' });
    expect(first.exitCode).toBe(1); // NULL tenants, cross-tenant references: backfill first
    expect((await runBackfill({ databaseUrl: url, manifest, detachCrossTenant: true })).ok).toBe(true);
    expect((await runDedupe({ databaseUrl: url, manifest })).ok).toBe(true);
    const second = await runMigrate({ databaseUrl: url, manifest, migrationsDir: migrationsDir(), direction: 'up' });
    expect(second.exitCode).toBe(0);
    expect(second.applied.map((a) => a.phase)).toContain('distribute');

    const placed = await scratch.client.query<{ name: string; method: string; repmodel: string; colocationid: number }>(
      `SELECT c.relname::text AS name, p.partmethod::text AS method, p.repmodel::text AS repmodel, p.colocationid
         FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 ORDER BY 1`,
      [scratch.schema],
    );
    const byName = new Map(placed.rows.map((r) => [r.name, r]));
    for (const t of ['companies', ...manifest.tables.map((x) => x.name)]) expect(byName.get(t)?.method, t).toBe('h');
    expect(new Set(placed.rows.filter((r) => r.method === 'h').map((r) => r.colocationid)).size).toBe(1);
    expect(byName.get('roles')?.repmodel).toBe('t');
    expect(byName.get('teams')?.repmodel).toBe('t');
    // The rows are all there (read through the coordinator from the shards).
    const deals = await scratch.client.query(`SELECT count(*)::int AS n FROM ${ident(scratch.schema)}.deals`);
    expect(deals.rows[0].n).toBeGreaterThan(0);
    // ONE unique index on (company_id, id) per table, the primary key: the composite phase's UNIQUE gave way.
    const uniques = await compositeUniques();
    expect(uniques.length).toBeGreaterThan(0);
    expect(await keys('u')).toEqual([]);
    const indexes = await tenantIdIndexes();
    expect(indexes.map((r) => r.name)).toEqual(expect.arrayContaining(['contacts', 'deals']));
    for (const r of indexes) expect({ table: r.name, unique: r.n, primary: r.pk }).toEqual({ table: r.name, unique: 1, primary: 1 });
    // The composite foreign keys still enforce, now through the primary key: a deal of company 2 for a contact of company 1 is
    // refused (Citus relays the worker's error as XX000, hence the message).
    const s = ident(scratch.schema);
    await expect(
      scratch.client.query(`INSERT INTO ${s}.deals (company_id, contact_id, title) SELECT 2, id, 'cross-tenant' FROM ${s}.contacts WHERE company_id = 1 LIMIT 1`),
    ).rejects.toThrow(/violates foreign key constraint/);
  });

  it('the Citus-form policies apply to the distributed tables and confine the app role to its tenant', async () => {
    const r = await applyPolicies({ databaseUrl: url, manifest, policiesDir: policiesDir() });
    expect(r.tables.filter((t) => t.status === 'failed')).toEqual([]);
    expect(r.ok).toBe(true);
    const c = scratch.client;
    const all = (await c.query(`SELECT count(*)::int AS n FROM ${ident(scratch.schema)}.deals WHERE company_id = 1`)).rows[0].n;
    await c.query('BEGIN');
    try {
      await c.query(`SET LOCAL ROLE ${ident(manifest.roles.app[0])}`);
      await c.query(`SET LOCAL citus.propagate_set_commands = 'local'`);
      await c.query(`SET LOCAL app.current_company_id = '1'`);
      const seen = (await c.query(`SELECT count(*)::int AS n FROM ${ident(scratch.schema)}.deals`)).rows[0].n;
      expect(seen).toBe(all);
      // WITH CHECK on the shards: a row for another tenant is refused.
      await c.query('SAVEPOINT other');
      await expect(c.query(`INSERT INTO ${ident(scratch.schema)}.pipelines (company_id, name) VALUES (2, 'other tenant')`)).rejects.toThrow(/row-level security/);
      await c.query('ROLLBACK TO SAVEPOINT other');
      await c.query(`INSERT INTO ${ident(scratch.schema)}.pipelines (company_id, name) VALUES (1, 'own tenant')`);
    } finally {
      await c.query('ROLLBACK');
    }
  });

  it('after: the Citus checks find no blocker', async () => {
    const found = await citusChecks();
    expect(found.filter((f) => f.severity === 'error').map((f) => `${f.check} ${f.table} ${f.object}`)).toEqual([]);
  });

  it('down: the distribute file brings every table back to a local table with its old primary key', async () => {
    const down = await runMigrate({ databaseUrl: url, manifest, migrationsDir: migrationsDir(), direction: 'down', count: 1 });
    expect(down.exitCode).toBe(0);
    expect(down.applied.map((a) => a.phase)).toEqual(['distribute']);
    const left = await scratch.client.query(
      `SELECT count(*)::int AS n FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1`,
      [scratch.schema],
    );
    expect(left.rows[0].n).toBe(0);
    const pk = await scratch.client.query(
      `SELECT conname::text AS name FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p'`,
      [`${ident(scratch.schema)}.deals`],
    );
    expect(pk.rows.map((r) => r.name)).toEqual(['deals_pkey']);
    // The composite phase's UNIQUE (company_id, id) constraints are back, each on its own index, the primary keys single-column again.
    const uniques = await keys('u');
    expect(uniques.map((r) => r.name).sort()).toEqual(await compositeUniques());
    for (const r of uniques) expect(r.def).toBe('UNIQUE (company_id, id)');
    const backTables = new Set(uniques.map((r) => r.tbl));
    for (const r of await keys('p')) if (backTables.has(r.tbl)) expect(`${r.tbl} ${r.def}`).toBe(`${r.tbl} PRIMARY KEY (id)`);
    for (const r of await tenantIdIndexes()) expect({ table: r.name, unique: r.n, primary: r.pk }).toEqual({ table: r.name, unique: 1, primary: 0 });
    const deals = await scratch.client.query(`SELECT count(*)::int AS n FROM ${ident(scratch.schema)}.deals`);
    expect(deals.rows[0].n).toBeGreaterThan(0);
  });
});

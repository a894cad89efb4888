// Every audit check, two-sided, on a schema the checks were not written against (uuid tenant, hostile names).
import { beforeAll, describe, expect, it } from 'vitest';
import { runAudit } from '../../src/audit/runner.js';
import type { Finding } from '../../src/audit/types.js';
import type { Manifest } from '../../src/config/manifest.js';
import { ident, literal } from '../../src/db/quote.js';
import { useTestDatabase } from '../support/database.js';

// Hostile on purpose: quotes, a semicolon, a space, unicode, a 63-byte table name.
const SCHEMA = 'Org "Data"; é';
const STATE = 'tenancy state';
const LONG = 'l'.repeat(60) + 'ög'; // 63 bytes in UTF-8
const q = (name: string) => `${ident(SCHEMA)}.${ident(name)}`;

describe('audit checks, two-sided (plant the defect → exactly its finding; fix it → none)', () => {
  const db = useTestDatabase();
  let web: string;
  let ops: string;
  let owner: string;
  let manifest: Manifest;
  const read = (s: string) => `(SELECT nullif(current_setting('app.org', true), '')::uuid)`.replace('app.org', s);
  const tenantPolicy = (table: string, column = 'org_id', as = 'PERMISSIVE') =>
    `CREATE POLICY tenant_isolation ON ${q(table)} AS ${as} FOR ALL TO ${ident(web)}
       USING (${ident(column)} = ${read('app.org')}) WITH CHECK (${ident(column)} = ${read('app.org')})`;
  const sql = async (text: string) => {
    await db().client.query(text);
  };
  const audit = async (only?: string[]) => runAudit({ databaseUrl: db().url, manifest, only, concurrency: 2 });
  // The manifest's bypass role is always reported (info); it is not the defect under test.
  const findingsOf = async (check: string): Promise<Finding[]> =>
    (await audit([check])).findings.filter((f) => f.check === check && f.object !== ops);

  beforeAll(async () => {
    web = await db().createRole('web');
    ops = await db().createRole('ops', 'BYPASSRLS');
    owner = await db().createRole('owner');
    manifest = {
      schema: SCHEMA,
      stateSchema: STATE,
      tenant: { table: 'organizations', key: 'org_id', column: 'org_id', setting: 'app.org', compositeKeys: true, partitionTrigger: true },
      roles: { app: [web], bypass: [{ role: ops, reason: 'operations console' }] },
      tables: [
        { name: 'projects', backfill: [], unique: [], singleton: false, sharedRows: false, polymorphic: [] },
        { name: 'task; items', backfill: [], unique: [{ columns: ['slug'], same: [] }], singleton: false, sharedRows: false, polymorphic: [] },
        { name: LONG, backfill: [], unique: [], singleton: true, sharedRows: false, polymorphic: [] },
      ],
      exempt: [{ name: 'countries', reason: 'reference data' }],
      definerFunctions: [],
    };
    const tables = ['organizations', 'projects', 'task; items', LONG];
    await sql(`
      CREATE SCHEMA ${ident(SCHEMA)} AUTHORIZATION ${ident(owner)};
      CREATE SCHEMA ${ident(STATE)};
      CREATE TABLE ${ident(STATE)}.runs (id int);             -- bookkeeping: never reported
      SET ROLE ${ident(owner)};
      CREATE TABLE ${q('organizations')} (org_id uuid PRIMARY KEY, name text NOT NULL);
      CREATE TABLE ${q('projects')} (org_id uuid NOT NULL REFERENCES ${q('organizations')}, id bigint NOT NULL, title text,
        PRIMARY KEY (org_id, id));
      CREATE TABLE ${q('task; items')} (org_id uuid NOT NULL REFERENCES ${q('organizations')}, id bigint NOT NULL,
        project_id bigint, slug text, PRIMARY KEY (org_id, id),
        FOREIGN KEY (org_id, project_id) REFERENCES ${q('projects')} (org_id, id), UNIQUE (org_id, slug));
      CREATE TABLE ${q(LONG)} (id bigserial PRIMARY KEY, org_id uuid NOT NULL REFERENCES ${q('organizations')}, v jsonb);
      CREATE UNIQUE INDEX "long; org" ON ${q(LONG)} (org_id);
      CREATE TABLE ${q('countries')} (code text PRIMARY KEY);
      RESET ROLE;
      GRANT USAGE ON SCHEMA ${ident(SCHEMA)} TO ${ident(web)};
      INSERT INTO ${q('organizations')} VALUES ('00000000-0000-0000-0000-00000000000a', 'a'), ('00000000-0000-0000-0000-00000000000b', 'b');
      INSERT INTO ${q('projects')} VALUES ('00000000-0000-0000-0000-00000000000a', 1, 'p'), ('00000000-0000-0000-0000-00000000000b', 2, 'q');
      INSERT INTO ${q('task; items')} VALUES ('00000000-0000-0000-0000-00000000000a', 1, 1, 'x'), ('00000000-0000-0000-0000-00000000000b', 2, 2, 'x');
    `);
    for (const t of tables) {
      await sql(`ALTER TABLE ${q(t)} ENABLE ROW LEVEL SECURITY; ALTER TABLE ${q(t)} FORCE ROW LEVEL SECURITY;
        GRANT SELECT, INSERT, UPDATE, DELETE ON ${q(t)} TO ${ident(web)};
        CREATE POLICY support_read ON ${q(t)} FOR SELECT TO ${ident(ops)} USING (true);`);
      await sql(tenantPolicy(t));
    }
  });

  it('a fully compliant schema: zero errors and zero warnings; bypass role reported as info', async () => {
    const result = await audit();
    const loud = result.findings.filter((f) => f.severity !== 'info');
    expect(loud).toEqual([]);
    expect(result.summary).toMatchObject({ error: 0, warning: 0, failing: 0 });
    expect(result.exitCode).toBe(0);
    expect(result.findings.every((f) => f.object === ops || f.table !== null)).toBe(true);
    expect(result.findings.some((f) => f.object === ops && f.severity === 'info')).toBe(true);
    // The catalog proves NULL tenants, cross-tenant references and duplicates impossible: nothing scanned.
    expect(result.summary.scannedTables).toBe(0);
    expect(result.summary.skippedScans).toBeGreaterThan(0);
    expect(JSON.stringify(result.findings)).not.toContain(STATE);
  });

  // Each case: SQL that plants one defect, what must be found, SQL that fixes it.
  type Expected = Partial<Pick<Finding, 'table' | 'object' | 'severity' | 'count'>>;
  const cases: {
    check: string;
    plant: () => string;
    /** What the one finding must match (a function when it names a role created in beforeAll). */
    expect: Expected | (() => Expected);
    fix: () => string;
    /** Undoes what the fix left behind that other cases must not see. */
    cleanup?: () => string;
    manifest?: (m: Manifest) => Manifest;
  }[] = [
    {
      check: 'missing-table',
      plant: () => `SELECT 1`,
      manifest: (m) => ({ ...m, tables: [...m.tables, { name: 'ghost; table', backfill: [], unique: [], singleton: false, sharedRows: false, polymorphic: [] }] }),
      expect: { table: `${SCHEMA}.ghost; table`, severity: 'error' },
      fix: () => `CREATE TABLE ${q('ghost; table')} (id int)`,
      cleanup: () => `DROP TABLE ${q('ghost; table')}`,
    },
    {
      check: 'missing-tenant-column',
      plant: () => `ALTER TABLE ${q('projects')} RENAME COLUMN org_id TO organization`,
      expect: { table: `${SCHEMA}.projects`, severity: 'error' },
      fix: () => `ALTER TABLE ${q('projects')} RENAME COLUMN organization TO org_id`,
    },
    {
      check: 'tenant-column-type-mismatch',
      plant: () => `CREATE TABLE ${q('notes')} (id serial PRIMARY KEY, org_id text)`,
      manifest: (m) => ({ ...m, tables: [...m.tables, { name: 'notes', backfill: [], unique: [], singleton: false, sharedRows: false, polymorphic: [] }] }),
      expect: { table: `${SCHEMA}.notes`, severity: 'error' },
      fix: () => `ALTER TABLE ${q('notes')} ALTER COLUMN org_id TYPE uuid USING NULL`,
      cleanup: () => `DROP TABLE ${q('notes')}`,
    },
    {
      check: 'nullable-tenant-column',
      plant: () => `ALTER TABLE ${q(LONG)} ALTER COLUMN org_id DROP NOT NULL`,
      expect: { table: `${SCHEMA}.${LONG}`, severity: 'warning' },
      fix: () => `ALTER TABLE ${q(LONG)} ALTER COLUMN org_id SET NOT NULL`,
    },
    {
      check: 'null-tenant',
      plant: () => `ALTER TABLE ${q(LONG)} ALTER COLUMN org_id DROP NOT NULL; INSERT INTO ${q(LONG)} (id, org_id) VALUES (41, NULL), (42, NULL)`,
      expect: { table: `${SCHEMA}.${LONG}`, severity: 'error', count: 2 },
      fix: () => `DELETE FROM ${q(LONG)} WHERE org_id IS NULL; ALTER TABLE ${q(LONG)} ALTER COLUMN org_id SET NOT NULL`,
    },
    {
      check: 'missing-tenant-fk',
      plant: () => `ALTER TABLE ${q('projects')} DROP CONSTRAINT projects_org_id_fkey`,
      expect: { table: `${SCHEMA}.projects`, severity: 'error' },
      fix: () => `ALTER TABLE ${q('projects')} ADD CONSTRAINT projects_org_id_fkey FOREIGN KEY (org_id) REFERENCES ${q('organizations')}`,
    },
    {
      check: 'unvalidated-tenant-fk',
      plant: () => `ALTER TABLE ${q('projects')} DROP CONSTRAINT projects_org_id_fkey;
        ALTER TABLE ${q('projects')} ADD CONSTRAINT projects_org_id_fkey FOREIGN KEY (org_id) REFERENCES ${q('organizations')} NOT VALID`,
      expect: { table: `${SCHEMA}.projects`, object: 'projects_org_id_fkey', severity: 'warning' },
      fix: () => `ALTER TABLE ${q('projects')} VALIDATE CONSTRAINT projects_org_id_fkey`,
    },
    {
      check: 'missing-tenant-index',
      plant: () => `DROP INDEX ${q('long; org')}`,
      expect: { table: `${SCHEMA}.${LONG}`, severity: 'warning' },
      fix: () => `CREATE UNIQUE INDEX "long; org" ON ${q(LONG)} (org_id)`,
    },
    {
      check: 'cross-tenant-reference',
      // A single-column FK next to the composite one: the data check must scan it.
      plant: () => `CREATE UNIQUE INDEX projects_id_key ON ${q('projects')} (id);
        ALTER TABLE ${q('task; items')} ADD CONSTRAINT "task; project" FOREIGN KEY (project_id) REFERENCES ${q('projects')} (id);
        ALTER TABLE ${q('task; items')} DROP CONSTRAINT ${ident('task; items_org_id_project_id_fkey')};
        UPDATE ${q('task; items')} SET project_id = 2 WHERE id = 1`,
      expect: { table: `${SCHEMA}.task; items`, object: 'task; project', severity: 'error', count: 1 },
      fix: () => `UPDATE ${q('task; items')} SET project_id = 1 WHERE id = 1;
        ALTER TABLE ${q('task; items')} ADD FOREIGN KEY (org_id, project_id) REFERENCES ${q('projects')} (org_id, id);
        ALTER TABLE ${q('task; items')} DROP CONSTRAINT "task; project"; DROP INDEX ${q('projects_id_key')}`,
    },
    {
      check: 'fk-not-tenant-scoped',
      plant: () => `CREATE UNIQUE INDEX projects_id_key ON ${q('projects')} (id);
        ALTER TABLE ${q('task; items')} ADD CONSTRAINT "task; project" FOREIGN KEY (project_id) REFERENCES ${q('projects')} (id)`,
      expect: { table: `${SCHEMA}.task; items`, object: null, count: 1, severity: 'warning' },
      fix: () => `ALTER TABLE ${q('task; items')} DROP CONSTRAINT "task; project"; DROP INDEX ${q('projects_id_key')}`,
    },
    {
      check: 'duplicate-within-tenant',
      plant: () => `ALTER TABLE ${q('task; items')} DROP CONSTRAINT ${ident('task; items_org_id_slug_key')};
        INSERT INTO ${q('task; items')} VALUES ('00000000-0000-0000-0000-00000000000a', 3, 1, 'x')`,
      expect: { table: `${SCHEMA}.task; items`, severity: 'error', count: 1 },
      fix: () => `DELETE FROM ${q('task; items')} WHERE id = 3;
        ALTER TABLE ${q('task; items')} ADD UNIQUE (org_id, slug)`,
    },
    {
      check: 'unscoped-unique',
      plant: () => `CREATE UNIQUE INDEX "title; global" ON ${q('projects')} (title)`,
      expect: { table: `${SCHEMA}.projects`, object: 'title; global', severity: 'warning' },
      fix: () => `DROP INDEX ${q('title; global')}`,
    },
    {
      check: 'rls-disabled',
      plant: () => `ALTER TABLE ${q('organizations')} DISABLE ROW LEVEL SECURITY`,
      expect: { table: `${SCHEMA}.organizations`, severity: 'error' },
      fix: () => `ALTER TABLE ${q('organizations')} ENABLE ROW LEVEL SECURITY`,
    },
    {
      check: 'rls-not-forced',
      plant: () => `ALTER TABLE ${q('projects')} NO FORCE ROW LEVEL SECURITY`,
      expect: { table: `${SCHEMA}.projects`, severity: 'warning' },
      fix: () => `ALTER TABLE ${q('projects')} FORCE ROW LEVEL SECURITY`,
    },
    {
      check: 'partition-without-rls',
      plant: () => `CREATE TABLE ${q('events')} (org_id uuid NOT NULL REFERENCES ${q('organizations')}, id bigint, at date,
          PRIMARY KEY (org_id, id, at)) PARTITION BY RANGE (at);
        CREATE TABLE ${q('events 2026')} PARTITION OF ${q('events')} FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
        ALTER TABLE ${q('events')} ENABLE ROW LEVEL SECURITY; ALTER TABLE ${q('events')} FORCE ROW LEVEL SECURITY;
        ${tenantPolicy('events')}`,
      manifest: (m) => ({ ...m, tables: [...m.tables, { name: 'events', backfill: [], unique: [], singleton: false, sharedRows: false, polymorphic: [] }] }),
      expect: { table: `${SCHEMA}.events`, object: `${SCHEMA}.events 2026`, severity: 'error' },
      fix: () => `ALTER TABLE ${q('events 2026')} ENABLE ROW LEVEL SECURITY; ALTER TABLE ${q('events 2026')} FORCE ROW LEVEL SECURITY;
        ${tenantPolicy('events 2026')}`,
      cleanup: () => `DROP TABLE ${q('events')}`,
    },
    {
      check: 'no-policy',
      plant: () => `DROP POLICY tenant_isolation ON ${q('projects')}; DROP POLICY support_read ON ${q('projects')}`,
      expect: { table: `${SCHEMA}.projects`, severity: 'error' },
      fix: () => `${tenantPolicy('projects')}; CREATE POLICY support_read ON ${q('projects')} FOR SELECT TO ${ident(ops)} USING (true)`,
    },
    {
      check: 'policy-not-tenant-scoped',
      plant: () => `DROP POLICY tenant_isolation ON ${q('projects')};
        CREATE POLICY by_title ON ${q('projects')} FOR ALL TO ${ident(web)} USING (title = current_user) WITH CHECK (title = current_user)`,
      expect: () => ({ table: `${SCHEMA}.projects`, object: web, severity: 'error' }),
      fix: () => `DROP POLICY by_title ON ${q('projects')}; ${tenantPolicy('projects')}`,
    },
    {
      check: 'permissive-policy-bypass',
      // WITH CHECK (true) is the write hole (ANCHORS point 6).
      plant: () => `CREATE POLICY "open; writes" ON ${q('projects')} FOR INSERT TO PUBLIC WITH CHECK (true)`,
      expect: { table: `${SCHEMA}.projects`, object: 'open; writes', severity: 'error' },
      fix: () => `DROP POLICY "open; writes" ON ${q('projects')};
        -- the same policy is fine once a restrictive tenant policy is AND-ed in
        CREATE POLICY "open; writes" ON ${q('projects')} FOR INSERT TO PUBLIC WITH CHECK (true);
        ${tenantPolicy('projects').replace('tenant_isolation', 'tenant_guard').replace('PERMISSIVE', 'RESTRICTIVE')}`,
      cleanup: () => `DROP POLICY "open; writes" ON ${q('projects')}; DROP POLICY tenant_guard ON ${q('projects')}`,
    },
    {
      check: 'unsafe-setting-read',
      plant: () => `DROP POLICY tenant_isolation ON ${q('projects')};
        CREATE POLICY tenant_isolation ON ${q('projects')} FOR ALL TO ${ident(web)} USING (org_id = current_setting('app.org')::uuid)`,
      expect: { table: `${SCHEMA}.projects`, object: 'tenant_isolation', severity: 'warning' },
      fix: () => `DROP POLICY tenant_isolation ON ${q('projects')}; ${tenantPolicy('projects')}`,
    },
    {
      check: 'app-role-bypasses-rls',
      plant: () => `ALTER ROLE ${ident(web)} BYPASSRLS`,
      expect: () => ({ table: null, object: web, severity: 'error' }),
      fix: () => `ALTER ROLE ${ident(web)} NOBYPASSRLS`,
    },
    {
      check: 'view-bypasses-rls',
      plant: () => `CREATE VIEW ${q('project list')} AS SELECT * FROM ${q('projects')};
        GRANT SELECT ON ${q('project list')} TO ${ident(web)}`,
      expect: { table: `${SCHEMA}.projects`, object: `${SCHEMA}.project list`, severity: 'error' },
      fix: () => `ALTER VIEW ${q('project list')} SET (security_invoker = true)`,
      cleanup: () => `DROP VIEW ${q('project list')}`,
    },
    {
      check: 'security-definer-function',
      plant: () => `CREATE FUNCTION ${q('count; projects')}() RETURNS bigint LANGUAGE sql SECURITY DEFINER
        AS ${literal(`SELECT count(*) FROM ${q('projects')}`)}`,
      expect: { table: `${SCHEMA}.projects`, severity: 'error' },
      fix: () => `ALTER FUNCTION ${q('count; projects')}() SECURITY INVOKER`,
      cleanup: () => `DROP FUNCTION ${q('count; projects')}()`,
    },
    {
      check: 'untracked-table',
      plant: () => `CREATE TABLE ${q('orphan "table"')} (id int)`,
      expect: { table: `${SCHEMA}.orphan "table"`, severity: 'warning' },
      fix: () => `DROP TABLE ${q('orphan "table"')}`,
    },
  ];

  for (const c of cases) {
    it(`${c.check}: found when planted, gone when fixed`, async () => {
      const original = manifest;
      expect(await findingsOf(c.check)).toEqual([]);
      if (c.manifest) manifest = c.manifest(manifest);
      let fixed = false;
      try {
        await sql(c.plant());
        const found = await findingsOf(c.check);
        expect(found).toHaveLength(1);
        expect(found[0]).toMatchObject(typeof c.expect === 'function' ? c.expect() : c.expect);
        expect(found[0].fingerprint).toMatch(/^[0-9a-f]{16}$/);
        await sql(c.fix());
        fixed = true;
        expect(await findingsOf(c.check)).toEqual([]);
      } finally {
        // Leave the compliant schema behind even when an expectation failed, so later cases stay independent.
        if (!fixed) await sql(c.fix()).catch(() => {});
        if (c.cleanup) await sql(c.cleanup()).catch(() => {});
        manifest = original;
      }
    });
  }

  it('no false positives: subselect or not, reversed comparison, restrictive beside permissive, TO another role, FOR INSERT/UPDATE without WITH CHECK', async () => {
    const variants = `
      DROP POLICY tenant_isolation ON ${q(LONG)};
      CREATE POLICY tenant_isolation ON ${q(LONG)} FOR ALL TO ${ident(web)}
        USING (nullif(current_setting('app.org', true), '')::uuid = org_id);
      CREATE POLICY "shared; read" ON ${q('projects')} FOR SELECT TO PUBLIC USING (true);
      CREATE POLICY tenant_guard ON ${q('projects')} AS RESTRICTIVE FOR ALL TO ${ident(web)}
        USING (org_id = ${read('app.org')}) WITH CHECK (org_id = ${read('app.org')});
      CREATE POLICY insert_denied ON ${q('task; items')} FOR INSERT TO ${ident(web)};
      CREATE POLICY update_own ON ${q('task; items')} FOR UPDATE TO ${ident(web)}
        USING (org_id = ${read('app.org')} AND slug IS NOT NULL);
      CREATE POLICY other_role ON ${q('task; items')} FOR SELECT TO ${ident(owner)} USING (true);`;
    const undo = `
      DROP POLICY tenant_isolation ON ${q(LONG)}; ${tenantPolicy(LONG)};
      DROP POLICY "shared; read" ON ${q('projects')}; DROP POLICY tenant_guard ON ${q('projects')};
      DROP POLICY insert_denied ON ${q('task; items')}; DROP POLICY update_own ON ${q('task; items')};
      DROP POLICY other_role ON ${q('task; items')};`;
    await sql(variants);
    try {
      const result = await audit();
      expect(result.findings.filter((f) => f.severity !== 'info')).toEqual([]);
      // A STABLE read outside a scalar subquery is at most info.
      expect(result.findings.filter((f) => f.check === 'unsafe-setting-read').map((f) => [f.severity, f.object])).toEqual([
        ['info', 'tenant_isolation'],
      ]);
      // The same permissive USING (true) without the restrictive guard is the hole.
      await sql(`DROP POLICY tenant_guard ON ${q('projects')}`);
      const open = (await audit(['permissive-policy-bypass'])).findings.filter((f) => f.severity === 'error');
      expect(open.map((f) => f.object)).toEqual(['shared; read']);
      await sql(`CREATE POLICY tenant_guard ON ${q('projects')} AS RESTRICTIVE FOR ALL TO ${ident(web)} USING (org_id = ${read('app.org')})`);
    } finally {
      await sql(undo);
    }
  });

  it('a policy may compare with a SQL wrapper function around the setting read; a wrapper around anything else is not the tenant', async () => {
    const fn = `${ident(SCHEMA)}.${ident('current; org')}`;
    await sql(`CREATE FUNCTION ${fn}() RETURNS uuid LANGUAGE sql STABLE AS $$ SELECT nullif(current_setting('app.org', true), '')::uuid $$;
      DROP POLICY tenant_isolation ON ${q('projects')};
      CREATE POLICY tenant_isolation ON ${q('projects')} FOR ALL TO ${ident(web)} USING (org_id = ${fn}()) WITH CHECK (org_id = ${fn}())`);
    try {
      expect((await audit()).findings.filter((f) => f.severity !== 'info')).toEqual([]);
      // SQL-standard bodies (PostgreSQL 14+: no prosrc) are read through too.
      await sql(`CREATE OR REPLACE FUNCTION ${fn}() RETURNS uuid LANGUAGE sql STABLE RETURN nullif(current_setting('app.org', true), '')::uuid`);
      expect((await audit()).findings.filter((f) => f.severity !== 'info')).toEqual([]);
      await sql(`CREATE OR REPLACE FUNCTION ${fn}() RETURNS uuid LANGUAGE sql STABLE BEGIN ATOMIC SELECT nullif(current_setting('app.org', true), '')::uuid; END`);
      expect((await audit()).findings.filter((f) => f.severity !== 'info')).toEqual([]);
      await sql(`CREATE OR REPLACE FUNCTION ${fn}() RETURNS uuid LANGUAGE sql STABLE RETURN '00000000-0000-0000-0000-00000000000a'::uuid`);
      expect((await audit(['policy-not-tenant-scoped'])).findings.filter((f) => f.object !== ops).map((f) => f.check)).toEqual(['policy-not-tenant-scoped']);
      await sql(`CREATE OR REPLACE FUNCTION ${fn}() RETURNS uuid LANGUAGE sql STABLE AS $$ SELECT '00000000-0000-0000-0000-00000000000a'::uuid $$`);
      const found = (await audit(['policy-not-tenant-scoped', 'permissive-policy-bypass'])).findings.filter((f) => f.object !== ops);
      expect(found.map((f) => [f.check, f.severity]).sort()).toEqual([
        ['permissive-policy-bypass', 'error'],
        ['policy-not-tenant-scoped', 'error'],
      ]);
    } finally {
      await sql(`DROP POLICY tenant_isolation ON ${q('projects')}; ${tenantPolicy('projects')}; DROP FUNCTION ${fn}()`);
    }
  });

  it('unsafe-setting-read: another setting is wrong only where it stands in for the tenant', async () => {
    // A per-project restrictive policy next to the tenant policy reads its own setting: fine.
    await sql(`CREATE POLICY by_project ON ${q('task; items')} AS RESTRICTIVE FOR SELECT TO ${ident(web)}
      USING (project_id = (SELECT nullif(current_setting('app.project', true), '')::bigint))`);
    try {
      expect((await audit(['unsafe-setting-read'])).findings).toEqual([]);
      // The tenant column compared with another setting: the application's tenant is never read.
      await sql(`CREATE POLICY wrong_setting ON ${q('task; items')} AS RESTRICTIVE FOR SELECT TO ${ident(web)}
        USING (org_id = (SELECT nullif(current_setting('app.organisation', true), '')::uuid))`);
      const found = (await audit(['unsafe-setting-read'])).findings;
      expect(found.map((f) => [f.severity, f.object])).toEqual([['warning', 'wrong_setting']]);
      expect(found[0].message).toContain('app.organisation');
    } finally {
      await sql(`DROP POLICY IF EXISTS by_project ON ${q('task; items')}; DROP POLICY IF EXISTS wrong_setting ON ${q('task; items')}`);
    }
  });

  it('an application role that can SET ROLE into a BYPASSRLS role bypasses RLS, inherited or not', async () => {
    const sneaky = await db().createRole('sneaky', 'BYPASSRLS');
    for (const inherit of ['', 'NOINHERIT']) {
      const holder = inherit ? await db().createRole('holder', 'NOINHERIT') : web;
      manifest = { ...manifest, roles: { ...manifest.roles, app: [holder] } };
      try {
        await sql(`GRANT ${ident(sneaky)} TO ${ident(holder)}`);
        const found = (await audit(['app-role-bypasses-rls'])).findings.filter((f) => f.severity === 'error');
        expect(found.map((f) => f.object)).toEqual([holder]);
        expect(found[0].message).toContain(sneaky);
        await sql(`REVOKE ${ident(sneaky)} FROM ${ident(holder)}`);
        expect((await audit(['app-role-bypasses-rls'])).findings.filter((f) => f.severity === 'error')).toEqual([]);
      } finally {
        manifest = { ...manifest, roles: { ...manifest.roles, app: [web] } };
      }
    }
  });

  it('runs under a read-only role (SELECT and USAGE only) and writes nothing', async () => {
    const auditor = await db().createRole('auditor', 'BYPASSRLS');
    await sql(`GRANT USAGE ON SCHEMA ${ident(SCHEMA)} TO ${ident(auditor)};
      GRANT SELECT ON ALL TABLES IN SCHEMA ${ident(SCHEMA)} TO ${ident(auditor)}`);
    const snapshot = async () =>
      (
        await db().client.query(
          `SELECT (SELECT count(*) FROM pg_catalog.pg_class) AS relations,
                  (SELECT array_agg(nspname::text ORDER BY nspname) FROM pg_catalog.pg_namespace) AS schemas,
                  (SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM ${q(LONG)} t) AS content,
                  (SELECT count(*) FROM ${q(LONG)}) AS rows`,
        )
      ).rows[0];
    await sql(`ALTER TABLE ${q(LONG)} ALTER COLUMN org_id DROP NOT NULL; INSERT INTO ${q(LONG)} (id, org_id) VALUES (77, NULL)`);
    try {
      const before = await snapshot();
      const result = await runAudit({ databaseUrl: db().urlFor(auditor), manifest, concurrency: 3 });
      expect(result.findings.filter((f) => f.check === 'null-tenant').map((f) => [f.table, f.count])).toEqual([[`${SCHEMA}.${LONG}`, 1]]);
      expect(result.summary.error).toBe(1);
      expect(await snapshot()).toEqual(before);
      // Its connections ended with the audit: nothing left open as the auditor.
      const open = await db().client.query(`SELECT count(*)::int AS n FROM pg_catalog.pg_stat_activity WHERE usename = $1`, [auditor]);
      expect(open.rows[0].n).toBe(0);
    } finally {
      await sql(`DELETE FROM ${q(LONG)} WHERE id = 77; ALTER TABLE ${q(LONG)} ALTER COLUMN org_id SET NOT NULL`);
    }
  });

  it('an auditor subject to row-level security cannot run the data checks: exit 2, not a false all-clear', async () => {
    const reader = await db().createRole('reader');
    await sql(`GRANT USAGE ON SCHEMA ${ident(SCHEMA)} TO ${ident(reader)};
      GRANT SELECT ON ALL TABLES IN SCHEMA ${ident(SCHEMA)} TO ${ident(reader)};
      ALTER TABLE ${q(LONG)} ALTER COLUMN org_id DROP NOT NULL; INSERT INTO ${q(LONG)} (id, org_id) VALUES (78, NULL)`);
    try {
      // Under RLS it would see no rows at all, so no NULL tenant: it must refuse instead.
      await expect(runAudit({ databaseUrl: db().urlFor(reader), manifest })).rejects.toMatchObject({
        code: 'database',
        exitCode: 2,
        problems: [expect.stringContaining('row-level security')],
      });
    } finally {
      await sql(`DELETE FROM ${q(LONG)} WHERE id = 78; ALTER TABLE ${q(LONG)} ALTER COLUMN org_id SET NOT NULL`);
    }
    // With every scan proved unnecessary by the catalog, the same role audits fine.
    expect((await runAudit({ databaseUrl: db().urlFor(reader), manifest })).summary).toMatchObject({ error: 0, warning: 0 });
  });

  it('the full audit is clean again after every case (the fixes restored the compliant schema)', async () => {
    const result = await audit();
    expect(result.findings.filter((f) => f.severity !== 'info')).toEqual([]);
  });
});

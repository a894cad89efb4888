// verify on a real Citus coordinator (CITUS_URL): probes as the app role with SET LOCAL; the propagation setting is checked.
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseManifest, type Manifest } from '../../src/config/manifest.js';
import { ident, literal, qualified } from '../../src/db/quote.js';
import { citusRouting } from '../../src/citus/routing.js';
import { runAudit } from '../../src/audit/runner.js';
import pg from 'pg';
import { prepareVerify, tableInfo } from '../../src/verify/preconditions.js';
import { PROBE_LOCK_TIMEOUT_MS } from '../../src/verify/probe-transaction.js';
import { verifyIsolation } from '../../src/verify/verify.js';
import { deleteOtherRows } from '../../src/verify/write-probes.js';
import { runCli } from '../support/cli.js';
import { describeCitus, useCitusSchema } from './cluster-schema.js';

const SETTING = 'app.current_company_id';

describeCitus('verify on a Citus coordinator', () => {
  const cluster = useCitusSchema('vf');
  let manifest: Manifest;
  let app: string;
  let database: string;

  const isolation = (table: string) =>
    `CREATE POLICY tenant_isolation ON ${table} TO ${ident(app)} USING (company_id = nullif(current_setting(${literal(SETTING)}, true), '')::integer)`;

  beforeAll(async () => {
    const { client, schema } = cluster();
    app = await cluster().createRole('vf_app');
    const q = (name: string) => qualified(schema, name);
    await client.query(`CREATE TABLE ${q('companies')} (id int PRIMARY KEY, name text NOT NULL)`);
    await client.query(`SELECT create_reference_table($1)`, [q('companies')]);
    await client.query(`INSERT INTO ${q('companies')} SELECT g, 'c' || g FROM generate_series(1, 4) g`);
    await client.query(`CREATE TABLE ${q('contacts')} (company_id int NOT NULL REFERENCES ${q('companies')}, id int NOT NULL, name text, PRIMARY KEY (company_id, id))`);
    await client.query(`SELECT create_distributed_table($1, 'company_id')`, [q('contacts')]);
    await client.query(
      `CREATE TABLE ${q('deals')} (company_id int NOT NULL REFERENCES ${q('companies')}, id int NOT NULL, contact_id int, title text NOT NULL,
         PRIMARY KEY (company_id, id))`,
    );
    // A local table may not reference a distributed one: the composite FK comes after the distribution.
    await client.query(`SELECT create_distributed_table($1, 'company_id', colocate_with => $2)`, [q('deals'), q('contacts')]);
    await client.query(`ALTER TABLE ${q('deals')} ADD FOREIGN KEY (company_id, contact_id) REFERENCES ${q('contacts')} (company_id, id)`);
    await client.query(`INSERT INTO ${q('contacts')} SELECT c, c * 10 + i, 'n' FROM generate_series(1, 4) c, generate_series(1, 3) i`);
    await client.query(`INSERT INTO ${q('deals')} SELECT c, i, c * 10 + least(i, 3), 'd' FROM generate_series(1, 4) c, generate_series(1, c + 1) i`);
    await client.query(`ALTER TABLE ${q('companies')} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY`);
    await client.query(
      `CREATE POLICY tenant_isolation ON ${q('companies')} TO ${ident(app)} USING (id = nullif(current_setting(${literal(SETTING)}, true), '')::integer)`,
    );
    for (const t of ['contacts', 'deals']) {
      await client.query(`ALTER TABLE ${q(t)} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY`);
      await client.query(isolation(q(t)));
    }
    await client.query(`GRANT USAGE ON SCHEMA ${ident(schema)} TO ${ident(app)}`);
    await client.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${ident(schema)} TO ${ident(app)}`);
    database = (await client.query(`SELECT current_database() AS d`)).rows[0].d;
    manifest = parseManifest({
      schema,
      tenant: { table: 'companies', key: 'id', column: 'company_id', setting: SETTING, composite_keys: true },
      roles: { app: [app] },
      tables: { contacts: {}, deals: { backfill: ['contact_id'] } },
    });
  });
  afterAll(async () => {
    if (!app || !database) return;
    await cluster().client.query(`ALTER ROLE ${ident(app)} IN DATABASE ${ident(database)} RESET citus.propagate_set_commands`).catch(() => {});
  });

  it("fails, saying what to run, while a login as the app role does not forward SET LOCAL; passes once it does", async () => {
    const { client } = cluster();
    const before = await verifyIsolation({ client, manifest, tenants: ['3', '2'] });
    expect(before.citus?.version).toMatch(/^Citus \d+\.\d+/);
    expect(before.ok).toBe(false);
    expect(before.failures).toEqual([
      expect.objectContaining({
        probe: 'citus-propagation',
        detail: expect.stringContaining(`run: ALTER ROLE ${ident(app)} IN DATABASE ${ident(database)} SET citus.propagate_set_commands = 'local';`),
      }),
    ]);
    // Every other probe ran as the app role through the coordinator, with the tenant set by SET LOCAL.
    const own = before.probes.find((p) => p.table === 'deals' && p.probe === 'select-own');
    expect(own).toMatchObject({ status: 'pass', detail: "sees exactly tenant 3's 4 row(s); sees exactly tenant 2's 3 row(s)" });

    await client.query(`ALTER ROLE ${ident(app)} IN DATABASE ${ident(database)} SET citus.propagate_set_commands = 'local'`);
    const after = await verifyIsolation({ client, manifest, tenants: ['3', '2'] });
    expect(after.failures).toEqual([]);
    expect(after.unprobed).toEqual([]);
    expect(after.ok).toBe(true);
    expect(after.probes.find((p) => p.probe === 'citus-propagation')).toMatchObject({ status: 'pass' });
    // Moving a row to another tenant is refused by Citus itself on a distributed table.
    expect(after.probes.find((p) => p.table === 'deals' && p.probe === 'update-to-other-tenant')?.detail).toMatch(/refused by Citus/);
    expect(after.probes.find((p) => p.table === 'deals' && p.probe === 'insert-other-tenant')?.detail).toMatch(/row-level security/);
  });

  it('finds a leaking policy on a distributed table (the probes reach the shards)', async () => {
    const { client, schema } = cluster();
    const deals = qualified(schema, 'deals');
    await client.query('BEGIN');
    try {
      await client.query(`DROP POLICY tenant_isolation ON ${deals}`);
      await client.query(`CREATE POLICY tenant_isolation ON ${deals} TO ${ident(app)} USING (true)`);
      await client.query('COMMIT');
      const broken = await verifyIsolation({ client, manifest, tenants: ['3', '2'] });
      expect(broken.ok).toBe(false);
      expect(broken.failures.map((f) => `${f.table} ${f.probe}`)).toEqual(expect.arrayContaining(['deals select-own', 'deals select-no-tenant', 'deals delete-other-rows']));
    } finally {
      await client.query('ROLLBACK').catch(() => {});
      await client.query(`DROP POLICY IF EXISTS tenant_isolation ON ${deals}`);
      await client.query(isolation(deals));
    }
    expect((await verifyIsolation({ client, manifest, tenants: ['3', '2'] })).failures).toEqual([]);
  });

  /** The manifest as a file, for the CLI. */
  const configFile = async (): Promise<string> => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-citus-'));
    const { schema } = cluster();
    await writeFile(
      `${dir}/tenancy.yaml`,
      JSON.stringify({ schema, tenant: { table: 'companies', key: 'id', column: 'company_id', setting: SETTING, composite_keys: true }, roles: { app: [app] }, tables: { contacts: {}, deals: { backfill: ['contact_id'] } } }),
    );
    return `${dir}/tenancy.yaml`;
  };
  const verifyCli = (file: string) => runCli(['verify', '--tenants', '3,2', '--config', file, '--database-url', process.env.CITUS_URL!]);
  const failing = async () => (await verifyIsolation({ client: cluster().client, manifest, tenants: ['3', '2'] })).failures.map((f) => `${f.table} ${f.probe}`);
  const dealRows = async () => (await cluster().client.query(`SELECT count(*)::int AS n, count(contact_id)::int AS linked FROM ${qualified(cluster().schema, 'deals')}`)).rows[0];

  /**
   * A leaking policy on deals, round trip: created; verify leaks (`whileOpen` asserts how), the CLI
   * exits 1 naming `probe`, the probes' writes are rolled back; dropped, verify and the CLI pass.
   */
  const leakOnDeals = async (policy: string, definition: string, probe: string, whileOpen: (leaking: Awaited<ReturnType<typeof verifyIsolation>>) => Promise<void>) => {
    const { client, schema } = cluster();
    const deals = qualified(schema, 'deals');
    const file = await configFile();
    const before = await dealRows();
    await client.query(`CREATE POLICY ${ident(policy)} ON ${deals} ${definition}`);
    try {
      await whileOpen(await verifyIsolation({ client, manifest, tenants: ['3', '2'] }));
      const cli = await verifyCli(file);
      expect(cli.code, cli.stderr).toBe(1);
      expect(cli.stdout).toContain(probe);
      expect(await dealRows()).toEqual(before); // rolled back
    } finally {
      await client.query(`DROP POLICY IF EXISTS ${ident(policy)} ON ${deals}`);
    }
    expect(await failing()).toEqual([]);
    const cli = await verifyCli(file);
    expect(cli.code, cli.stdout + cli.stderr).toBe(0);
  };

  it('a FOR DELETE-only leak on a distributed table: delete-other-rows fails (its DELETE has no WHERE, so the SELECT policy does not hide it), the CLI exits 1; dropped, it passes', async () => {
    const { client, schema } = cluster();
    const bypass = async () =>
      (await runAudit({ client, manifest, only: ['permissive-policy-bypass'] })).findings.map((f) => `${f.severity} ${f.table} ${f.object}`);
    expect(await bypass()).toEqual([]);
    await leakOnDeals('delete_any', `FOR DELETE TO ${ident(app)} USING (true)`, 'delete-other-rows', async (leaking) => {
      expect(await bypass()).toEqual([`error ${schema}.deals delete_any`]);
      expect(leaking.failures.map((f) => `${f.table} ${f.probe}`)).toEqual(['deals delete-other-rows']);
      // Run with a tenant that has no deals: every deal of tenants 1-4 (2 + 3 + 4 + 5) was in reach.
      // The tenant with no rows is a fixed one (int's largest), so two runs' reports read alike.
      expect(leaking.failures[0].detail).toMatch(/^tenant 2147483647 set \(no rows of its own in the table\): DELETE without WHERE, tenant 2's rows in reach: 14 row\(s\) of other tenants deleted; /);
    });
    expect(await bypass()).toEqual([]);
  });

  it('a FOR UPDATE-only leak on a distributed table: update-other-rows fails (SET of another column to NULL, no WHERE: the tenant column is the distribution column), the CLI exits 1; dropped, it passes', async () => {
    await leakOnDeals('update_any', `FOR UPDATE TO ${ident(app)} USING (true)`, 'update-other-rows', async (leaking) => {
      expect(leaking.failures.map((f) => `${f.table} ${f.probe}`)).toEqual(['deals update-other-rows']);
      expect(leaking.failures[0].detail).toMatch(/^tenant \d+ set \(no rows of its own in the table\): UPDATE without WHERE, tenant 2's rows in reach: 14 row\(s\) of other tenants changed; /);
      // Moving a row to another tenant stays refused by Citus on a distributed table, leak or not.
      expect(leaking.probes.find((p) => p.table === 'deals' && p.probe === 'update-to-other-tenant')).toMatchObject({ status: 'pass', detail: expect.stringMatching(/refused by Citus/) });
    });
  });

  it('FOR UPDATE leaks on a reference table (the tenant table): WITH CHECK (true) lets A move its row (update-to-other-tenant), USING (true) reaches the others (update-other-rows); dropped, both pass', async () => {
    const { client, schema } = cluster();
    const companies = qualified(schema, 'companies');
    const own = `id = nullif(current_setting(${literal(SETTING)}, true), '')::integer`;
    await client.query(`CREATE POLICY move_any ON ${companies} FOR UPDATE TO ${ident(app)} USING (${own}) WITH CHECK (true)`);
    try {
      const leaking = await verifyIsolation({ client, manifest, tenants: ['3', '2'] });
      expect(leaking.failures.map((f) => `${f.table} ${f.probe}`)).toEqual(['companies update-to-other-tenant']);
      // The UPDATE has no WHERE: the SELECT policy does not check the moved row, the duplicate key is what stops it.
      expect(leaking.failures[0].detail).toMatch(/^tenant 3 set: moving its rows to tenant 2 \(UPDATE without WHERE\): passed the policies, stopped only by duplicate key/);
    } finally {
      await client.query(`DROP POLICY IF EXISTS move_any ON ${companies}`);
    }
    await client.query(`CREATE POLICY update_any ON ${companies} FOR UPDATE TO ${ident(app)} USING (true)`);
    try {
      const leaking = await verifyIsolation({ client, manifest, tenants: ['3', '2'] });
      // Its WITH CHECK is true as well (the USING stands in for it): A moves its row too.
      expect(leaking.failures.map((f) => `${f.table} ${f.probe}`)).toEqual(['companies update-to-other-tenant', 'companies update-other-rows']);
      // A reference table takes an UPDATE of the key: the rows are taken over by the probe's tenant.
      expect(leaking.failures[1].detail).toMatch(/^tenant \d+ set \(no rows of its own in the table\): UPDATE without WHERE, tenant 2's rows in reach: reached the rows: /);
    } finally {
      await client.query(`DROP POLICY IF EXISTS update_any ON ${companies}`);
    }
    expect(await failing()).toEqual([]);
  });

  it('the UPDATE of a distributed table sets a column that plans: not a domain (its NOT NULL fails on the NULL at planning), not generated; a sound table passes, a FOR UPDATE leak fails', async () => {
    const { client, schema } = cluster();
    const notes = qualified(schema, 'notes');
    const label = qualified(schema, 'label');
    await client.query(`CREATE DOMAIN ${label} AS text NOT NULL CHECK (VALUE <> '')`);
    await client.query(
      `CREATE TABLE ${notes} (company_id int NOT NULL, label ${label}, id int NOT NULL, twice int GENERATED ALWAYS AS (id * 2) STORED, PRIMARY KEY (company_id, id))`,
    );
    await client.query(`SELECT create_distributed_table($1, 'company_id', colocate_with => $2)`, [notes, qualified(schema, 'deals')]);
    await client.query(`INSERT INTO ${notes} (company_id, label, id) SELECT c, 'l', 1 FROM generate_series(1, 4) c`);
    await client.query(`ALTER TABLE ${notes} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY`);
    await client.query(isolation(notes));
    await client.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${notes} TO ${ident(app)}`);
    const withNotes = { ...manifest, tables: [...manifest.tables, { ...manifest.tables[0], name: 'notes', backfill: [], unique: [], polymorphic: [] }] };
    const probe = async () =>
      (await verifyIsolation({ client, manifest: withNotes, tenants: ['3', '2'] })).probes.find((p) => p.table === 'notes' && p.probe === 'update-other-rows')!;
    try {
      expect(await probe()).toMatchObject({ status: 'pass', detail: expect.stringMatching(/UPDATE without WHERE, tenant 2's rows in reach: 0 rows affected/) });
      await client.query(`CREATE POLICY update_any ON ${notes} FOR UPDATE TO ${ident(app)} USING (true)`);
      // The column set is id (NOT NULL): the leak shows as the rows reached.
      expect(await probe()).toMatchObject({ status: 'fail', detail: expect.stringMatching(/reached the rows: null value in column "id"/) });
    } finally {
      await client.query(`DROP TABLE ${notes}`);
      await client.query(`DROP DOMAIN ${label}`);
    }
  });

  it('the update/delete probes wait no longer than the lock timeout, on the workers too: a leaking DELETE that meets a locked row of tenant 2 fails; Citus\'s lock of every shard, held by another multi-shard UPDATE, is inconclusive', async () => {
    const { client, schema } = cluster();
    const deals = qualified(schema, 'deals');
    const context = await prepareVerify(client, manifest, ['3', '2']);
    const env = { client, manifest, ...context, role: app, info: tableInfo(manifest, context.catalog, 'deals', false)! };
    const holder = new pg.Client({ connectionString: process.env.CITUS_URL });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`UPDATE ${deals} SET title = title`);
      expect(await deleteOtherRows(env)).toMatchObject({ status: 'error', detail: expect.stringMatching(/: inconclusive, canceling statement due to lock timeout/) });
      await holder.query('ROLLBACK');

      await client.query(`CREATE POLICY delete_any ON ${deals} FOR DELETE TO ${ident(app)} USING (true)`);
      await holder.query('BEGIN');
      await holder.query(`SELECT 1 FROM ${deals} WHERE company_id = 2 FOR UPDATE`);
      const started = Date.now();
      // The lock timeout set again after the propagation reaches the worker (else it waits up to the statement timeout).
      expect(await deleteOtherRows(env)).toMatchObject({ status: 'fail', detail: expect.stringMatching(/reached the rows: canceling statement due to lock timeout/) });
      expect(Date.now() - started).toBeLessThan(PROBE_LOCK_TIMEOUT_MS + 5_000);
    } finally {
      await holder.query('ROLLBACK').catch(() => {});
      await holder.end();
      await client.query(`DROP POLICY IF EXISTS delete_any ON ${deals}`);
    }
  }, 30_000);

  it('a row the probe must make (tenant 2 has none) is made as the role, then the probe\'s tenant is set: a leak is caught; without it, 0 rows', async () => {
    const { client, schema } = cluster();
    const tasks = qualified(schema, 'tasks');
    await client.query(`CREATE TABLE ${tasks} (company_id int NOT NULL, id int NOT NULL, title text NOT NULL, PRIMARY KEY (company_id, id))`);
    await client.query(`SELECT create_distributed_table($1, 'company_id', colocate_with => $2)`, [tasks, qualified(schema, 'deals')]);
    await client.query(`INSERT INTO ${tasks} VALUES (3, 1, 't')`); // tenant 3 only
    await client.query(`ALTER TABLE ${tasks} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY`);
    await client.query(isolation(tasks));
    await client.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${tasks} TO ${ident(app)}`);
    const withTasks = { ...manifest, tables: [...manifest.tables, { ...manifest.tables[0], name: 'tasks', backfill: [], unique: [], polymorphic: [] }] };
    const probe = async () => {
      const r = await verifyIsolation({ client, manifest: withTasks, tenants: ['3', '2'] });
      return r.probes.find((p) => p.table === 'tasks' && p.probe === 'delete-other-rows')!;
    };
    // The DELETE runs with a tenant that has no tasks: tenant 3's task and tenant 2's made row are in reach.
    await client.query(`CREATE POLICY leak ON ${tasks} TO ${ident(app)} USING (true)`);
    const leaking = await probe();
    expect(leaking.status).toBe('fail');
    expect(leaking.detail).toMatch(/^tenant \d+ set \(no rows of its own in the table\): DELETE without WHERE, tenant 2's rows in reach \(a row made for the probe\): 2 row\(s\) of other tenants deleted;/);
    await client.query(`DROP POLICY leak ON ${tasks}`);
    // Had the tenant stayed 2 after the row was made, this delete would have removed it.
    const fixed = await probe();
    expect(fixed).toMatchObject({ status: 'pass' });
    expect(fixed.detail).toMatch(/\(a row made for the probe\): 0 rows affected/);
    expect(Number((await client.query(`SELECT count(*) AS n FROM ${tasks}`)).rows[0].n)).toBe(1); // rolled back
    await client.query(`DROP TABLE ${tasks}`);
  });

  it('refuses, saying what to run, when an application role cannot log in (Citus connects to the workers as it)', async () => {
    const { client } = cluster();
    await client.query(`ALTER ROLE ${ident(app)} NOLOGIN`);
    try {
      await expect(verifyIsolation({ client, manifest })).rejects.toThrow(/must be able to log in/);
      await expect(verifyIsolation({ client, manifest })).rejects.toMatchObject({ hint: expect.stringContaining(`ALTER ROLE ${ident(app)} LOGIN;`) });
    } finally {
      await client.query(`ALTER ROLE ${ident(app)} LOGIN`);
    }
  });
  it('citus-unrouted: a tenant-scoped query is single-task, the unfiltered one asks every shard; a table distributed by another column fans out', async () => {
    const { client, schema } = cluster();
    const notes = qualified(schema, 'notes');
    await client.query(`CREATE TABLE ${notes} (company_id int NOT NULL, id int NOT NULL, PRIMARY KEY (company_id, id))`);
    // The defect: distributed by id, not by the tenant column.
    await client.query(`SELECT create_distributed_table($1, 'id')`, [notes]);
    await client.query(`ALTER TABLE ${notes} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY`);
    await client.query(isolation(notes));
    await client.query(`GRANT SELECT ON ${notes} TO ${ident(app)}`);
    const withNotes = parseManifest({
      schema,
      tenant: { table: 'companies', key: 'id', column: 'company_id', setting: SETTING },
      roles: { app: [app] },
      tables: { contacts: {}, deals: {}, notes: {} },
    });
    const shards = Number((await client.query(`SELECT current_setting('citus.shard_count') AS n`)).rows[0].n);
    const broken = await citusRouting(client, { manifest: withNotes, tenant: '3' });
    const row = (name: string) => broken.tables.find((t) => t.table === name)!;
    expect(row('deals')).toMatchObject({ kind: 'distributed', distributionColumn: 'company_id', unrouted: false });
    expect(row('deals').tenantScoped).toMatchObject({ tasks: 1, sql: `SELECT * FROM ${qualified(schema, 'deals')} WHERE "company_id" = $1` });
    expect(row('deals').tenantScoped!.nodes).toHaveLength(1);
    expect(row('deals').unfiltered!.tasks).toBe(shards);
    expect(row('companies')).toMatchObject({ kind: 'reference', unrouted: false });
    expect(row('notes')).toMatchObject({ kind: 'distributed', distributionColumn: 'id', unrouted: true });
    expect(row('notes').tenantScoped!.tasks).toBe(shards);
    expect(broken).toMatchObject({ ok: false, unrouted: ['notes'], role: app, tenant: '3' });

    await client.query(`SELECT alter_distributed_table($1, distribution_column := 'company_id', colocate_with := $2)`, [notes, qualified(schema, 'deals')]);
    const fixed = await citusRouting(client, { manifest: withNotes, tenant: '3' });
    expect(fixed).toMatchObject({ ok: true, unrouted: [] });
    expect(fixed.tables.find((t) => t.table === 'notes')!.tenantScoped!.tasks).toBe(1);

    // The CLI: verify --target citus prints the report (JSON: `routing`); it stays informational.
    const file = await configFile();
    const json = await runCli(['verify', '--target', 'citus', '--json', '--tenants', '3,2', '--config', file, '--database-url', process.env.CITUS_URL!]);
    expect(json.code, json.stderr).toBe(0);
    const out = JSON.parse(json.stdout);
    expect(out.citus.version).toMatch(/^Citus/);
    expect(out.routing.tables.find((t: { table: string }) => t.table === 'deals').tenantScoped.tasks).toBe(1);
    const text = await runCli(['verify', '--target', 'citus', '--tenants', '3,2', '--config', file, '--database-url', process.env.CITUS_URL!]);
    expect(text.stdout).toMatch(/citus-unrouted: shard tasks per query/);
    expect(text.stdout).toMatch(new RegExp(`deals\\s*│\\s*distributed\\s*│\\s*1\\s*│\\s*${shards}`));
  });
});

// audit --since: after each kind of change, the incremental re-audit finds exactly what a full audit finds, and says per table why it read what it read.
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AuditResult } from '../../src/audit/types.js';
import { ident } from '../../src/db/quote.js';
import { renderAudit } from '../../src/report/render-audit.js';
import { adminUrl, createTestDatabase, useTestDatabase, withDatabase } from '../support/database.js';
import { MAX_TENANT_KEYS } from '../../src/audit/incremental/plan.js';
import { asPrevious, audit, modes, SCHEMA_SQL, schemaAudit, view } from './fixture.js';

describe('audit --since (incremental re-audit)', () => {
  const db = useTestDatabase();
  const sql = async (text: string) => {
    await db().client.query(text);
  };
  let previous: AuditResult;

  beforeEach(async () => {
    await sql(`DROP SCHEMA IF EXISTS inc CASCADE; ${SCHEMA_SQL}`);
    previous = await audit(db().url);
    expect(view(previous)).toEqual([]);
  });

  /** The incremental run and a full one in the same state: equal findings (counts, samples, messages). */
  const compare = async (from: AuditResult = previous, tight = true) => {
    const since = await audit(db().url, asPrevious(from, 'previous.json', tight));
    const full = await audit(db().url);
    expect(view(since)).toEqual(view(full));
    return { since, full };
  };

  it('no change: every table incremental with 0 changed rows (the grouped FK aside), nothing found', async () => {
    const { since } = await compare();
    expect(modes(since)).toEqual({
      contacts: 'incremental',
      deals: 'incremental',
      notes: 'incremental',
      projects: 'incremental',
      tasks: expect.stringMatching(/^full: cross-tenant-reference \(tasks_company_id_project_id_fkey\): foreign key into columns not unique in projects/),
    });
    expect(since.incremental!.tables.find((t) => t.table === 'inc.contacts')!.changedRows).toBe(0);
    const text = renderAudit(since, 'table', { toolVersion: 'test', manifestFile: 'tenancy.yaml', verbose: false });
    expect(text).toContain('since previous.json:');
    expect(text).toMatch(/inc\.contacts\s+incremental \(0 changed rows\)/);
    expect(text).toMatch(/inc\.tasks\s+full: cross-tenant-reference/);
  });

  it('inserts: a NULL tenant, an unknown tenant, a duplicate, a cross-tenant FK and polymorphic reference, an untyped note', async () => {
    await sql(`INSERT INTO inc.contacts VALUES (101, NULL, 'n1'), (102, 99, 'n2'), (103, 1, 'e3');
      INSERT INTO inc.deals VALUES (201, 1, 2);
      INSERT INTO inc.notes VALUES (301, 1, 'Deal', '4'), (302, 1, 'Bogus', '1')`);
    const { since, full } = await compare();
    expect(full.findings.map((f) => `${f.check} ${f.table} ${f.count}`)).toEqual([
      'null-tenant inc.contacts 1',
      'cross-tenant-reference inc.deals 1',
      'cross-tenant-reference inc.notes 1',
      'cross-tenant-reference inc.notes 1',
      'duplicate-within-tenant inc.contacts 1',
      'unknown-tenant inc.contacts 1',
    ]);
    expect(modes(since).contacts).toMatch(/^full: .*the changed rows hold findings: re-checked in full/);
    // Unchanged rows of other tables still count, once the changed ones are found bad.
  });

  it('an update of an FK column (child side) and of a parent\u2019s tenant (parent side: its unchanged children now cross tenants)', async () => {
    await sql(`UPDATE inc.deals SET contact_id = 3 WHERE id = 1`); // deal 1 (tenant of contact 2) → contact 3 (another tenant)
    let r = await compare();
    expect(r.full.findings.map((f) => `${f.table} ${f.object} ${f.count}`)).toEqual(['inc.deals deals_contact_id_fkey 1']);

    await sql(`DROP SCHEMA inc CASCADE; ${SCHEMA_SQL}`);
    previous = await audit(db().url);
    await sql(`UPDATE inc.contacts SET company_id = 3 WHERE id = 7`); // contact 7 was tenant 2; its 2 deals and its note stay
    r = await compare();
    expect(r.full.findings.map((f) => `${f.table} ${f.object} ${f.count}`)).toEqual([
      'inc.deals deals_contact_id_fkey 2',
      'inc.notes item_type/item_id → contacts 1',
    ]);
    expect(modes(r.since).contacts).toBe('incremental'); // the contact's own checks are clean: it is the deals that cross
    expect(modes(r.since).deals).toMatch(/the changed rows hold findings/);
    // Found through the parent side: no deal changed (contacts handed over the changed contact's key).
    expect(r.since.incremental!.tables.find((t) => t.table === 'inc.deals')!.changedRows).toBe(0);
    expect(r.since.incremental!.tables.find((t) => t.table === 'inc.contacts')!.changedRows).toBe(1);
  });

  it('deletes: nothing new (an inner join finds no deleted parent), except unknown-tenant when a tenant row goes', async () => {
    await sql(`DELETE FROM inc.contacts WHERE id IN (4, 5); DELETE FROM inc.notes WHERE id < 10`);
    let r = await compare();
    expect(r.full.findings).toEqual([]);
    expect(modes(r.since)).toMatchObject({ contacts: 'incremental', deals: 'incremental', notes: 'incremental' });

    await sql(`DELETE FROM inc.companies WHERE id = 2`); // no FK from contacts: its rows now name no tenant
    r = await compare();
    expect(r.full.findings.map((f) => `${f.check} ${f.table} ${f.count}`)).toEqual([
      'unknown-tenant inc.contacts 19',
      'unknown-tenant inc.deals 38',
      'unknown-tenant inc.notes 10',
      'unknown-tenant inc.projects 3',
      'unknown-tenant inc.tasks 10',
    ]);
    expect(modes(r.since).contacts).toMatch(/unknown-tenant: 1 key of companies gone since the previous audit/);
  });

  it('VACUUM FULL and TRUNCATE + reload: the table was rewritten (new relfilenode), full', async () => {
    await sql(`VACUUM FULL inc.deals`);
    let r = await compare();
    expect(modes(r.since).deals).toMatch(/^full: .*deals was rewritten/);
    // The FK's answer belongs to deals (its child); contacts' own answers still read only its changed rows.
    expect(modes(r.since).contacts).toBe('incremental');

    await sql(`DROP SCHEMA inc CASCADE; ${SCHEMA_SQL}`);
    previous = await audit(db().url);
    await sql(`BEGIN; CREATE TEMP TABLE keep AS SELECT * FROM inc.notes; TRUNCATE inc.notes;
      INSERT INTO inc.notes SELECT * FROM keep; UPDATE inc.notes SET company_id = 1 WHERE id = 1; COMMIT`);
    r = await compare();
    expect(r.full.findings.map((f) => `${f.table} ${f.count}`)).toEqual(['inc.notes 1']);
    expect(modes(r.since).notes).toMatch(/notes was rewritten/);
  });

  it('VACUUM FREEZE keeps the raw xmin (PostgreSQL ≥ 9.4): a frozen new row is still a changed row', async () => {
    await sql(`INSERT INTO inc.deals VALUES (202, 3, 1)`); // contact 1 is tenant 2
    const before = (await db().client.query(`SELECT xmin::text AS x FROM inc.deals WHERE id = 202`)).rows[0].x;
    await sql(`VACUUM (FREEZE) inc.deals`);
    const after = await db().client.query(`SELECT xmin::text AS x, age(xmin) < 100 AS recent FROM inc.deals WHERE id = 202`);
    expect(after.rows[0]).toEqual({ x: before, recent: true });
    const r = await compare();
    expect(r.full.findings.map((f) => `${f.table} ${f.count}`)).toEqual(['inc.deals 1']);
    expect(modes(r.since).deals).toMatch(/the changed rows hold findings/);
  });

  it('DDL: a column added or an index dropped changes the catalog fingerprint: full for that table', async () => {
    await sql(`ALTER TABLE inc.notes ADD COLUMN body text DEFAULT 'x'`);
    const r = await compare();
    expect(modes(r.since).notes).toMatch(/^full: .*the catalog of notes changed/);
    expect(modes(r.since).projects).toBe('incremental');
  });

  it('a previous run with findings for a check: that table in full until it is clean again', async () => {
    await sql(`UPDATE inc.contacts SET company_id = NULL WHERE id = 9`);
    const dirty = await audit(db().url);
    expect(view(dirty).map((f) => f.check)).toEqual(['null-tenant']);
    let r = await compare(dirty);
    expect(modes(r.since).contacts).toMatch(/null-tenant: the previous audit had findings for this check/);
    await sql(`UPDATE inc.contacts SET company_id = 1 WHERE id = 9`);
    r = await compare(dirty);
    expect(r.full.findings).toEqual([]);
    // Chained: the run after it starts from a clean snapshot again.
    r = await compare(r.since);
    expect(modes(r.since).contacts).toBe('incremental');
  });

  it('no previous JSON info, and a wraparound distance too large: every table full with the reason', async () => {
    const none = await audit(db().url, { file: 'old.json', snapshot: null, problem: 'no previous JSON info: old.json has no snapshot block' });
    expect(none.incremental!.global).toMatch(/no previous JSON info/);
    expect(modes(none).contacts).toMatch(/^full: .*no previous JSON info/);
    const old = asPrevious(previous);
    old.snapshot!.xmin = String(BigInt(old.snapshot!.xmin) - 2n ** 30n);
    const far = await audit(db().url, old);
    expect(far.incremental!.global).toMatch(/transaction ID wraparound distance/);
  });

  it('a subtransaction of a transaction open during the previous audit: its rows count as changed (xmin cut, not xip)', async () => {
    const other = await db().connect();
    await other.query(`BEGIN; SELECT pg_current_xact_id(); SAVEPOINT s; INSERT INTO inc.deals VALUES (203, 3, 1)`);
    // A later transaction commits: the snapshot's xmax (latest completed + 1) passes the subtransaction's xid.
    await sql(`SELECT pg_current_xact_id()`);
    const during = await audit(db().url);
    const sub = BigInt((await other.query(`SELECT xmin::text AS x FROM inc.deals WHERE id = 203`)).rows[0].x);
    expect(sub).toBeLessThan(BigInt(during.snapshot!.xmax) & 0xffffffffn); // below xmax…
    expect(during.snapshot!.xip).not.toContain(String(sub)); // …and in no xip list: "visible" by the xip rule
    await other.query('COMMIT');
    const r = await compare(during, false); // the real xmin: the open transaction holds it below its subtransaction's xid
    expect(r.full.findings.map((f) => `${f.table} ${f.count}`)).toEqual(['inc.deals 1']);
    // With the cut at xmax (xmin raised to it) the row would look old, and be missed.
    const xipRule = await audit(db().url, asPrevious(during, 'previous.json', true));
    expect(view(xipRule)).toEqual([]);
  });

  it('inside a caller\u2019s transaction the snapshot block says it cannot serve a later --since', async () => {
    const client = await db().connect();
    await client.query('BEGIN; SELECT pg_current_xact_id()');
    const inside = await audit(db().url, undefined, client);
    await client.query('ROLLBACK');
    expect(inside.snapshot!.unusable).toMatch(/caller/);
    const r = await compare(inside);
    expect(r.since.incremental!.global).toMatch(/the previous audit cannot serve/);
  });
});

describe('audit --since against a copy of the database (CREATE DATABASE … TEMPLATE)', () => {
  let source: Awaited<ReturnType<typeof createTestDatabase>>;
  const copy = `crmt_copy_${Date.now().toString(36)}`;
  beforeAll(async () => {
    source = await createTestDatabase();
    await source.client.query(SCHEMA_SQL);
  });
  afterAll(async () => {
    const admin = new pg.Client({ connectionString: adminUrl() });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${ident(copy)} WITH (FORCE)`);
    await admin.end();
    await source.drop();
  });

  it('same system identifier, another oid: every table full, and the copy\u2019s findings equal a full audit\u2019s', async () => {
    const first = await audit(source.url);
    const admin = new pg.Client({ connectionString: adminUrl() });
    await admin.connect();
    try {
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [source.name]);
      await admin.query(`CREATE DATABASE ${ident(copy)} TEMPLATE ${ident(source.name)}`);
    } finally {
      await admin.end();
    }
    const url = withDatabase(adminUrl(), copy);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(`UPDATE inc.deals SET company_id = 1 WHERE id = 1`);
    await c.end();
    const since = await audit(url, asPrevious(first));
    const full = await audit(url);
    expect(view(since)).toEqual(view(full));
    expect(full.findings.length).toBe(1);
    expect(since.snapshot!.system).toBe(first.snapshot!.system);
    expect(since.incremental!.global).toMatch(/^another database \(oid \d+, the previous audit's \d+: a copy or a restore\)$/);
  });
});

describe('audit --since on a partitioned table', () => {
  const db = useTestDatabase();

  it('ATTACH PARTITION brings in rows older than the previous audit: the partition tree is in the fingerprint, full', async () => {
    await db().client.query(`CREATE SCHEMA incp;
      CREATE TABLE incp.companies (id integer PRIMARY KEY);
      INSERT INTO incp.companies VALUES (1), (2);
      CREATE TABLE incp.events (id integer, company_id integer) PARTITION BY RANGE (id);
      CREATE TABLE incp.events_1 PARTITION OF incp.events FOR VALUES FROM (0) TO (100);
      INSERT INTO incp.events VALUES (1, 1), (2, 2);
      CREATE TABLE incp.events_2 (id integer, company_id integer);
      INSERT INTO incp.events_2 VALUES (150, NULL)`);
    const run = schemaAudit(() => db().url, 'incp', { events: null });
    const first = await run();
    expect(first.findings).toEqual([]);
    let since = await run(asPrevious(first));
    expect(modes(since)).toEqual({ 'incp.events': 'incremental' });
    await db().client.query(`INSERT INTO incp.events VALUES (3, NULL)`); // a changed row in a partition is found through the parent
    since = await run(asPrevious(first));
    expect(view(since)).toEqual(view(await run()));
    expect(since.findings.map((f) => f.count)).toEqual([1]);
    await db().client.query(`DELETE FROM incp.events WHERE id = 3; ALTER TABLE incp.events ATTACH PARTITION incp.events_2 FOR VALUES FROM (100) TO (200)`);
    since = await run(asPrevious(first));
    const full = await run();
    expect(view(since)).toEqual(view(full));
    expect(full.findings.map((f) => `${f.check} ${f.count}`)).toEqual(['null-tenant 1']);
    expect(modes(since)['incp.events']).toMatch(/the catalog of events changed/);
  });
});

describe('audit --since with a two-column foreign key', () => {
  const db = useTestDatabase();

  it('a parent keyed by two columns changes tenant: its unchanged children are found through both key columns', async () => {
    await db().client.query(`CREATE SCHEMA incm;
      CREATE TABLE incm.companies (id integer PRIMARY KEY);
      INSERT INTO incm.companies VALUES (1), (2);
      CREATE TABLE incm.orders (id integer, line integer, company_id integer, PRIMARY KEY (id, line));
      INSERT INTO incm.orders SELECT g / 3, g % 3, 1 + g % 2 FROM generate_series(0, 29) g;
      CREATE TABLE incm.shipments (id integer PRIMARY KEY, company_id integer, order_id integer, order_line integer,
        FOREIGN KEY (order_id, order_line) REFERENCES incm.orders);
      INSERT INTO incm.shipments SELECT g, 1 + g % 2, g / 3, g % 3 FROM generate_series(0, 29) g`);
    const run = schemaAudit(() => db().url, 'incm', { orders: null, shipments: null });
    const first = await run();
    expect(first.findings).toEqual([]);
    await db().client.query(`UPDATE incm.orders SET company_id = 3 - company_id WHERE id = 4 AND line = 1`); // shipment 13's order
    const since = await run(asPrevious(first));
    const full = await run();
    expect(view(since)).toEqual(view(full));
    expect(full.findings.map((f) => `${f.table} ${f.count} ${JSON.stringify(f.samples)}`)).toEqual(['incm.shipments 1 [13]']);
    expect(since.incremental!.tables.find((t) => t.table === 'incm.shipments')!.changedRows).toBe(0);
  });
});

describe('audit --since: what a changed parent hands its children', () => {
  const db = useTestDatabase();

  // members → teams: smallint keys and integer tenants, negative ones too, packed into one bigint;
  // invoices (integer) → accounts (bigint): the key and tenant as text; cards → boards: uuid keys, the
  // same; labels → tags: text keys (a collation may equate other texts), the handed rows joined instead.
  it('a parent whose tenant changes, goes NULL or stays: only the first makes its unchanged children cross, whatever the key type', async () => {
    await db().client.query(`CREATE SCHEMA incq;
      CREATE TABLE incq.companies (id bigint PRIMARY KEY);
      INSERT INTO incq.companies VALUES (1), (2), (3), (-2);
      CREATE TABLE incq.accounts (id bigint PRIMARY KEY, company_id bigint);
      INSERT INTO incq.accounts SELECT g, 1 + g % 3 FROM generate_series(1, 12) g;
      CREATE TABLE incq.invoices (id integer PRIMARY KEY, company_id integer, account_id integer REFERENCES incq.accounts);
      INSERT INTO incq.invoices SELECT g, 1 + (g % 12 + 1) % 3, g % 12 + 1 FROM generate_series(1, 48) g;
      CREATE TABLE incq.boards (id uuid PRIMARY KEY, n integer UNIQUE, company_id bigint);
      INSERT INTO incq.boards SELECT md5(g::text)::uuid, g, 1 + g % 3 FROM generate_series(1, 12) g;
      CREATE TABLE incq.cards (id integer PRIMARY KEY, company_id bigint, board_id uuid REFERENCES incq.boards);
      INSERT INTO incq.cards SELECT g, 1 + (g % 12 + 1) % 3, md5((g % 12 + 1)::text)::uuid FROM generate_series(1, 48) g;
      CREATE TABLE incq.tags (code text PRIMARY KEY, company_id bigint);
      INSERT INTO incq.tags SELECT 't' || g, 1 + g % 3 FROM generate_series(1, 12) g;
      CREATE TABLE incq.labels (id integer PRIMARY KEY, company_id bigint, tag_code text REFERENCES incq.tags);
      INSERT INTO incq.labels SELECT g, 1 + (g % 12 + 1) % 3, 't' || (g % 12 + 1) FROM generate_series(1, 48) g;
      CREATE TABLE incq.teams (id smallint PRIMARY KEY, company_id integer);
      INSERT INTO incq.teams SELECT -g, CASE WHEN g % 2 = 0 THEN -2 ELSE 1 + g % 3 END FROM generate_series(1, 12) g;
      CREATE TABLE incq.members (id integer PRIMARY KEY, company_id integer, team_id smallint REFERENCES incq.teams);
      INSERT INTO incq.members SELECT g, t.company_id, t.id FROM generate_series(1, 48) g JOIN incq.teams t ON t.id = -(g % 12 + 1)`);
    const run = schemaAudit(() => db().url, 'incq', { accounts: null, invoices: null, boards: null, cards: null, tags: null, labels: null, teams: null, members: null });
    const first = await run();
    expect(first.findings).toEqual([]);
    // Parent 2 of each: no tenant (a NULL compares as nothing: no finding, as in the full check);
    // parent 3: rewritten with its own tenant. Nothing to find, and nothing re-checked in full (a
    // reached row counted by mistake would re-run its answer in full: the findings would still be
    // right, the mode would say so).
    await db().client.query(`
      UPDATE incq.accounts SET company_id = NULL WHERE id = 2;
      UPDATE incq.accounts SET company_id = company_id WHERE id = 3;
      UPDATE incq.boards SET company_id = NULL WHERE n = 2;
      UPDATE incq.boards SET company_id = company_id WHERE n = 3;
      UPDATE incq.tags SET company_id = NULL WHERE code = 't2';
      UPDATE incq.tags SET company_id = company_id WHERE code = 't3';
      UPDATE incq.teams SET company_id = NULL WHERE id = -1;
      UPDATE incq.teams SET company_id = company_id WHERE id IN (-2, -3)`);
    let since = await run(asPrevious(first));
    expect(view(since)).toEqual(view(await run()));
    expect(since.findings.map((f) => `${f.check} ${f.table}`)).toEqual([
      'null-tenant incq.accounts',
      'null-tenant incq.boards',
      'null-tenant incq.tags',
      'null-tenant incq.teams',
    ]);
    expect(modes(since)).toMatchObject({ 'incq.invoices': 'incremental', 'incq.cards': 'incremental', 'incq.labels': 'incremental', 'incq.members': 'incremental' });
    // Parent 1 of each: another tenant; its 4 unchanged children cross.
    await db().client.query(`
      UPDATE incq.accounts SET company_id = 1 + (company_id % 3) WHERE id = 1;
      UPDATE incq.boards SET company_id = 1 + (company_id % 3) WHERE n = 1;
      UPDATE incq.tags SET company_id = 1 + (company_id % 3) WHERE code = 't1';
      UPDATE incq.teams SET company_id = 3 WHERE id = -2; -- was -2: its members (tenant -2) cross
      -- Rewritten with its own tenant -2: its pair is in the set the members above are looked up in;
      -- a pair that let the tenant's sign reach the key's bits would be theirs too, and hide them.
      UPDATE incq.teams SET company_id = company_id WHERE id = -4`);
    since = await run(asPrevious(first));
    const full = await run();
    expect(view(since)).toEqual(view(full));
    expect(full.findings.filter((f) => f.check === 'cross-tenant-reference').map((f) => `${f.table} ${f.count}`)).toEqual([
      'incq.cards 4',
      'incq.invoices 4',
      'incq.labels 4',
      'incq.members 4',
    ]);
    for (const child of ['invoices', 'cards', 'labels', 'members']) {
      expect(since.incremental!.tables.find((t) => t.table === `incq.${child}`)!.changedRows).toBe(0); // found through the parent side
    }
  });

  it('more tenants than are recorded by key: unchanged, unknown-tenant stays incremental; a tenant row changed, full', async () => {
    await db().client.query(`CREATE SCHEMA incb;
      CREATE TABLE incb.companies (id integer PRIMARY KEY, name text);
      INSERT INTO incb.companies SELECT g, 'c' || g FROM generate_series(1, ${MAX_TENANT_KEYS + 1}) g;
      CREATE TABLE incb.contacts (id integer PRIMARY KEY, company_id integer);
      INSERT INTO incb.contacts SELECT g, g FROM generate_series(1, 100) g`);
    const run = schemaAudit(() => db().url, 'incb', { contacts: null });
    const first = await run();
    const recorded = first.snapshot!.tables['incb.companies'];
    expect(recorded.keys).toBeUndefined();
    expect(recorded.rows).toBe(MAX_TENANT_KEYS + 1);
    // No tenant row changed: as many rows older than the cut as the previous audit saw, so none is gone.
    let since = await run(asPrevious(first));
    expect(modes(since)).toEqual({ 'incb.contacts': 'incremental' });
    // A tenant renamed: fewer old rows, and no keys to tell that no key went: full, saying why.
    await db().client.query(`UPDATE incb.companies SET name = 'renamed' WHERE id = 7`);
    since = await run(asPrevious(first));
    expect(modes(since)['incb.contacts']).toMatch(/unknown-tenant: rows of companies changed since the previous audit, which did not record its keys/);
    await db().client.query(`DELETE FROM incb.companies WHERE id = 8`);
    since = await run(asPrevious(first));
    expect(view(since)).toEqual(view(await run()));
    expect(since.findings.map((f) => `${f.check} ${f.count}`)).toEqual(['unknown-tenant 1']);
  });

  it('a tenant renamed (a new row version, its key kept): the recorded keys are all there, incremental', async () => {
    await db().client.query(`CREATE SCHEMA incr;
      CREATE TABLE incr.companies (id integer PRIMARY KEY, name text);
      INSERT INTO incr.companies SELECT g, 'c' || g FROM generate_series(1, 5) g;
      CREATE TABLE incr.contacts (id integer PRIMARY KEY, company_id integer);
      INSERT INTO incr.contacts SELECT g, 1 + g % 5 FROM generate_series(1, 20) g`);
    const run = schemaAudit(() => db().url, 'incr', { contacts: null });
    const first = await run();
    expect(first.snapshot!.tables['incr.companies']).toMatchObject({ rows: 5, keys: ['1', '2', '3', '4', '5'] });
    await db().client.query(`UPDATE incr.companies SET name = 'renamed' WHERE id = 3`);
    let since = await run(asPrevious(first));
    expect(modes(since)).toEqual({ 'incr.contacts': 'incremental' });
    await db().client.query(`UPDATE incr.companies SET id = 6 WHERE id = 3`);
    since = await run(asPrevious(first));
    expect(modes(since)['incr.contacts']).toMatch(/unknown-tenant: 1 key of companies gone since the previous audit/);
    expect(view(since)).toEqual(view(await run()));
  });
});

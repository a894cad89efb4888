// Data checks (null-tenant, cross-tenant-reference, duplicate-within-tenant), two-sided, and the scans the catalog lets them skip.
import { describe, expect, it } from 'vitest';
import { runAudit } from '../../src/audit/runner.js';
import type { AuditResult } from '../../src/audit/types.js';
import { parseManifest, type Manifest } from '../../src/config/manifest.js';
import { ident } from '../../src/db/quote.js';
import { useTestDatabase } from '../support/database.js';

const manifestFor = (schema: string, tenant: { table: string; key: string; column: string }, tables: Record<string, unknown>): Manifest =>
  parseManifest({
    schema,
    tenant: { ...tenant, setting: 'app.tenant' },
    roles: { app: ['crm_app_never_created'] },
    tables,
  });

const ORG_A = '00000000-0000-4000-8000-00000000000a';
const ORG_B = '00000000-0000-4000-8000-00000000000b';

/** Findings as comparable data; samples sorted (the scan takes the first 5 it meets, in no order). */
const view = (result: AuditResult) =>
  result.findings.map((f) => ({
    check: f.check,
    severity: f.severity,
    table: f.table,
    object: f.object,
    count: f.count,
    samples: [...f.samples].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
  }));

describe('data checks (two-sided)', () => {
  const db = useTestDatabase();
  const sql = async (text: string) => {
    await db().client.query(text);
  };
  const audit = (manifest: Manifest, only: string[]): Promise<AuditResult> =>
    runAudit({ databaseUrl: db().url, manifest, only, concurrency: 2 });

  it('null-tenant: count and sample keys (single, composite, no primary key); NOT NULL skips the scan', async () => {
    await sql(`CREATE SCHEMA nt;
      CREATE TABLE nt.companies (id integer PRIMARY KEY);
      INSERT INTO nt.companies VALUES (1), (2);
      CREATE TABLE nt.contacts (id integer PRIMARY KEY, company_id integer);
      INSERT INTO nt.contacts VALUES (1, 1), (2, NULL), (3, NULL), (4, 2);
      CREATE TABLE nt.line_items (order_id integer, line integer, company_id integer, PRIMARY KEY (order_id, line));
      INSERT INTO nt.line_items VALUES (10, 1, NULL), (10, 2, 1);
      CREATE TABLE nt.logs (company_id integer, msg text);
      INSERT INTO nt.logs VALUES (1, 'a'), (NULL, 'b');
      CREATE TABLE nt.deals (id integer PRIMARY KEY, company_id integer NOT NULL);
      INSERT INTO nt.deals VALUES (1, 1)`);
    const manifest = manifestFor('nt', { table: 'companies', key: 'id', column: 'company_id' }, {
      contacts: null,
      line_items: null,
      logs: null,
      deals: null,
    });
    const result = await audit(manifest, ['null-tenant']);
    expect(view(result)).toEqual([
      { check: 'null-tenant', severity: 'error', table: 'nt.contacts', object: null, count: 2, samples: [2, 3] },
      { check: 'null-tenant', severity: 'error', table: 'nt.line_items', object: null, count: 1, samples: [[10, 1]] },
      { check: 'null-tenant', severity: 'error', table: 'nt.logs', object: null, count: 1, samples: ['(0,2)'] },
    ]);
    expect(result.findings[0].message).toBe('2 rows of nt.contacts have no company_id');
    expect(result.summary).toMatchObject({ scannedTables: 3, skippedScans: 1, error: 3 });

    await sql(`UPDATE nt.contacts SET company_id = 1 WHERE company_id IS NULL;
      UPDATE nt.line_items SET company_id = 2 WHERE company_id IS NULL;
      DELETE FROM nt.logs WHERE company_id IS NULL`);
    const fixed = await audit(manifest, ['null-tenant']);
    expect(fixed.findings).toEqual([]);
    expect(fixed.summary.scannedTables).toBe(3); // still scanned: only NOT NULL proves there are none

    await sql(`ALTER TABLE nt.contacts ALTER COLUMN company_id SET NOT NULL;
      ALTER TABLE nt.line_items ALTER COLUMN company_id SET NOT NULL;
      ALTER TABLE nt.logs ALTER COLUMN company_id SET NOT NULL`);
    const proven = await audit(manifest, ['null-tenant']);
    expect(proven.findings).toEqual([]);
    expect(proven.summary).toMatchObject({ scannedTables: 0, skippedScans: 4 });
    expect(proven.runs).toEqual([]);
  });

  it('cross-tenant-reference: per FK, count and samples; NULL references and NULL tenants are not counted; fixing the rows clears it', async () => {
    await sql(`CREATE SCHEMA ct;
      CREATE TABLE ct.organizations (id uuid PRIMARY KEY);
      INSERT INTO ct.organizations VALUES ('${ORG_A}'), ('${ORG_B}');
      CREATE TABLE ct.projects (id integer PRIMARY KEY, org_id uuid REFERENCES ct.organizations);
      INSERT INTO ct.projects VALUES (1, '${ORG_A}'), (2, '${ORG_B}'), (3, NULL);
      CREATE TABLE ct.tasks (id integer PRIMARY KEY, org_id uuid REFERENCES ct.organizations,
        project_id integer CONSTRAINT tasks_project_fk REFERENCES ct.projects,
        review_project_id integer CONSTRAINT "tasks review; fk" REFERENCES ct.projects);
      INSERT INTO ct.tasks VALUES
        (1, '${ORG_A}', 1, 1),      -- fine
        (2, '${ORG_A}', 2, NULL),   -- project of B
        (3, '${ORG_A}', 2, 2),      -- both of B
        (4, NULL, 2, 2),            -- no tenant: null-tenant's business, not this check's
        (5, '${ORG_B}', NULL, 1),   -- review project of A
        (6, '${ORG_B}', 3, 2)       -- project without tenant: not comparable`);
    const manifest = manifestFor('ct', { table: 'organizations', key: 'id', column: 'org_id' }, { projects: null, tasks: null });
    const result = await audit(manifest, ['cross-tenant-reference']);
    expect(view(result)).toEqual([
      { check: 'cross-tenant-reference', severity: 'error', table: 'ct.tasks', object: 'tasks review; fk', count: 2, samples: [3, 5] },
      { check: 'cross-tenant-reference', severity: 'error', table: 'ct.tasks', object: 'tasks_project_fk', count: 2, samples: [2, 3] },
    ]);
    expect(result.findings[1].message).toBe(
      '2 rows of ct.tasks reference a projects row of another tenant through project_id (tasks_project_fk)',
    );

    // A child whose tenant column has the wrong type (text beside uuid) is still compared, not an aborted audit.
    await sql(`CREATE TABLE ct.comments (id integer PRIMARY KEY, org_id text, project_id integer CONSTRAINT comments_project_fk REFERENCES ct.projects);
      INSERT INTO ct.comments VALUES (1, '${ORG_A}', 1), (2, '${ORG_A}', 2)`);
    const mixed = manifestFor('ct', { table: 'organizations', key: 'id', column: 'org_id' }, { projects: null, tasks: null, comments: null });
    expect(view(await audit(mixed, ['cross-tenant-reference'])).map((f) => `${f.table} ${f.object} ${f.count}`)).toEqual([
      'ct.comments comments_project_fk 1',
      'ct.tasks tasks review; fk 2',
      'ct.tasks tasks_project_fk 2',
    ]);

    await sql(`UPDATE ct.tasks SET project_id = 1 WHERE id IN (2, 3); UPDATE ct.tasks SET review_project_id = 1 WHERE id = 3;
      UPDATE ct.tasks SET review_project_id = 2 WHERE id = 5`);
    expect((await audit(manifest, ['cross-tenant-reference'])).findings).toEqual([]);
  });

  it('cross-tenant-reference: one read per child answers every FK it holds; samples are the first bad rows in table order', async () => {
    await sql(`CREATE SCHEMA pg1;
      CREATE TABLE pg1.companies (id integer PRIMARY KEY);
      INSERT INTO pg1.companies VALUES (1), (2);
      CREATE TABLE pg1.users (id integer PRIMARY KEY, company_id integer);
      INSERT INTO pg1.users SELECT g, 1 + g % 2 FROM generate_series(1, 100) g;  -- even ids: company 1, odd: 2
      -- 5,000 good rows first: the bad ones sit deep in the table, and one is moved there by an UPDATE
      CREATE TABLE pg1.deals (id integer PRIMARY KEY, company_id integer, owner_id integer REFERENCES pg1.users, closer_id integer REFERENCES pg1.users);
      INSERT INTO pg1.deals SELECT g, 1 + (g % 100 + 1) % 2, g % 100 + 1, NULL FROM generate_series(1, 5000) g;
      INSERT INTO pg1.deals VALUES (5001, 2, 2, NULL), (5002, 1, 1, 3), (5003, 1, 2, 4);
      UPDATE pg1.deals SET closer_id = 3 WHERE id = 17;
      -- a bigint FK column beside the integer ones: its own query, not a cast inside the union
      CREATE TABLE pg1.notes (id bigint PRIMARY KEY, company_id integer, author_id bigint REFERENCES pg1.users);
      INSERT INTO pg1.notes VALUES (1, 2, 1), (2, 2, 2), (3, NULL, 2), (4, 2, NULL);
      CREATE TABLE pg1.tasks (id integer PRIMARY KEY, company_id integer, assignee_id integer REFERENCES pg1.users);
      INSERT INTO pg1.tasks VALUES (1, 1, 2), (2, 1, 1);
      ANALYZE`);
    const manifest = manifestFor('pg1', { table: 'companies', key: 'id', column: 'company_id' }, { users: null, deals: null, notes: null, tasks: null });
    const result = await audit(manifest, ['cross-tenant-reference']);
    expect(view(result).map((f) => `${f.table} ${f.object} ${f.count} ${JSON.stringify(f.samples)}`)).toEqual([
      'pg1.deals deals_closer_id_fkey 2 [17,5002]',
      'pg1.deals deals_owner_id_fkey 2 [5001,5002]',
      'pg1.notes notes_author_id_fkey 1 ["2"]',
      'pg1.tasks tasks_assignee_id_fkey 1 [2]',
    ]);
    // One read per child: deals' two FKs into users are two joins of the same scan.
    expect(result.runs.map((r) => r.target).sort()).toEqual(['deals → users', 'notes → users', 'tasks → users']);

    await sql(`UPDATE pg1.deals SET closer_id = NULL; UPDATE pg1.deals SET owner_id = 2 WHERE id = 5002; UPDATE pg1.deals SET owner_id = 1 WHERE id = 5001;
      UPDATE pg1.notes SET author_id = 1 WHERE id = 2;
      UPDATE pg1.tasks SET assignee_id = 2`);
    expect((await audit(manifest, ['cross-tenant-reference'])).findings).toEqual([]);
  });

  it('data checks on a partitioned child: NULL tenants and cross-tenant references found across partitions, samples included', async () => {
    await sql(`CREATE SCHEMA pt;
      CREATE TABLE pt.companies (id integer PRIMARY KEY);
      INSERT INTO pt.companies VALUES (1), (2);
      CREATE TABLE pt.accounts (id integer PRIMARY KEY, company_id integer);
      INSERT INTO pt.accounts VALUES (1, 1), (2, 2);
      CREATE TABLE pt.events (id integer NOT NULL, company_id integer, account_id integer REFERENCES pt.accounts, PRIMARY KEY (id))
        PARTITION BY RANGE (id);
      CREATE TABLE pt.events_low PARTITION OF pt.events FOR VALUES FROM (0) TO (1000);
      CREATE TABLE pt.events_high PARTITION OF pt.events FOR VALUES FROM (1000) TO (MAXVALUE);
      INSERT INTO pt.events SELECT g, 1, 1 FROM generate_series(1, 2000) g;
      UPDATE pt.events SET account_id = 2 WHERE id IN (10, 1500);   -- one bad row in each partition
      UPDATE pt.events SET company_id = NULL WHERE id = 1999`);
    const manifest = manifestFor('pt', { table: 'companies', key: 'id', column: 'company_id' }, { accounts: null, events: null });
    const result = await audit(manifest, ['null-tenant', 'cross-tenant-reference']);
    expect(view(result).map((f) => `${f.check} ${f.table} ${f.count} ${JSON.stringify(f.samples)}`)).toEqual([
      'null-tenant pt.events 1 [1999]',
      'cross-tenant-reference pt.events 2 [10,1500]',
    ]);
    await sql(`UPDATE pt.events SET account_id = 1 WHERE id IN (10, 1500); UPDATE pt.events SET company_id = 1 WHERE id = 1999`);
    expect((await audit(manifest, ['null-tenant', 'cross-tenant-reference'])).findings).toEqual([]);
  });

  it('cross-tenant-reference: a validated composite FK skips the scan; a NOT VALID one is still scanned and its bad row found', async () => {
    await sql(`CREATE SCHEMA cc;
      CREATE TABLE cc.agencies (id bigint PRIMARY KEY);
      INSERT INTO cc.agencies VALUES (1), (2);
      CREATE TABLE cc.clients (id bigint PRIMARY KEY, agency_id bigint NOT NULL REFERENCES cc.agencies, UNIQUE (agency_id, id));
      INSERT INTO cc.clients VALUES (10, 1), (20, 2);
      -- numeric beside bigint (a type-mismatch finding): compared by value, 1.0 = 1
      CREATE TABLE cc.visits (id bigint PRIMARY KEY, agency_id numeric(10, 1), client_id bigint REFERENCES cc.clients);
      INSERT INTO cc.visits VALUES (1, 1.0, 10);
      CREATE TABLE cc.briefs (id bigint PRIMARY KEY, agency_id bigint NOT NULL REFERENCES cc.agencies, client_id bigint,
        CONSTRAINT briefs_client_fk FOREIGN KEY (agency_id, client_id) REFERENCES cc.clients (agency_id, id));
      INSERT INTO cc.briefs VALUES (1, 1, 10), (2, 2, 20)`);
    const manifest = manifestFor('cc', { table: 'agencies', key: 'id', column: 'agency_id' }, { clients: null, briefs: null });
    const proven = await audit(manifest, ['null-tenant', 'cross-tenant-reference']);
    expect(proven.findings).toEqual([]);
    // NOT NULL on both tables and the validated composite FK: nothing to scan.
    expect(proven.summary).toMatchObject({ scannedTables: 0, skippedScans: 3 });
    expect(proven.runs).toEqual([]);

    // Rows written before a NOT VALID composite FK was added were never checked.
    await sql(`ALTER TABLE cc.briefs DROP CONSTRAINT briefs_client_fk;
      INSERT INTO cc.briefs VALUES (3, 1, 20), (4, 2, 10), (5, 1, 999);
      ALTER TABLE cc.briefs ADD CONSTRAINT briefs_client_fk FOREIGN KEY (agency_id, client_id) REFERENCES cc.clients (agency_id, id) NOT VALID`);
    const unproven = await audit(manifest, ['cross-tenant-reference']);
    expect(view(unproven)).toEqual([
      { check: 'cross-tenant-reference', severity: 'error', table: 'cc.briefs', object: 'briefs_client_fk', count: 2, samples: ['3', '4'] },
    ]);
    // briefs and the clients it references are read (one grouped join).
    expect(unproven.summary).toMatchObject({ scannedTables: 2, skippedScans: 0 });

    // A parent keyed by (tenant, id) only: id repeats across tenants, so the non-tenant join is probed
    // (EXISTS) instead of joined; a row with a same-tenant parent is fine even when another tenant has that id.
    await sql(`CREATE TABLE cc.campaigns (agency_id bigint NOT NULL, id bigint NOT NULL, PRIMARY KEY (agency_id, id));
      INSERT INTO cc.campaigns VALUES (1, 7), (2, 7), (2, 8);
      CREATE TABLE cc.ads (id bigint PRIMARY KEY, agency_id bigint NOT NULL, campaign_id bigint);
      INSERT INTO cc.ads VALUES (1, 1, 7), (2, 2, 7), (3, 1, 8), (4, 1, NULL);
      ALTER TABLE cc.ads ADD CONSTRAINT ads_campaign_fk FOREIGN KEY (agency_id, campaign_id) REFERENCES cc.campaigns NOT VALID`);
    const manifest2 = manifestFor('cc', { table: 'agencies', key: 'id', column: 'agency_id' }, { clients: null, briefs: null, campaigns: null, ads: null, visits: null });
    expect(view(await audit(manifest2, ['cross-tenant-reference']))).toEqual([
      { check: 'cross-tenant-reference', severity: 'error', table: 'cc.ads', object: 'ads_campaign_fk', count: 1, samples: ['3'] },
      { check: 'cross-tenant-reference', severity: 'error', table: 'cc.briefs', object: 'briefs_client_fk', count: 2, samples: ['3', '4'] },
    ]);

    await sql(`DELETE FROM cc.briefs WHERE id IN (3, 4, 5); ALTER TABLE cc.briefs VALIDATE CONSTRAINT briefs_client_fk`);
    const validated = await audit(manifest, ['cross-tenant-reference']);
    expect(validated.findings).toEqual([]);
    expect(validated.summary).toMatchObject({ scannedTables: 0, skippedScans: 1 });
  });

  it('duplicate-within-tenant: unique keys and singletons; NULL keys, other tenants and single rows are not duplicates; a valid unique index skips the query', async () => {
    await sql(`CREATE SCHEMA dp;
      CREATE TABLE dp.companies (id integer PRIMARY KEY);
      INSERT INTO dp.companies VALUES (1), (2), (3);
      CREATE TABLE dp.contacts (id serial PRIMARY KEY, company_id integer, email text, region text);
      INSERT INTO dp.contacts (company_id, email, region) VALUES
        (1, 'a@x', 'eu'), (1, 'a@x', 'eu'), (1, 'a@x', 'us'),   -- (1, a@x) ×3; (1, a@x, eu) ×2
        (1, 'b@x', 'eu'), (1, 'b@x', NULL),                     -- (1, b@x) ×2
        (2, 'a@x', 'eu'),                                       -- another tenant: not a duplicate
        (1, NULL, 'eu'), (1, NULL, 'eu'),                       -- NULL email: never a duplicate
        (NULL, 'c@x', 'eu'), (NULL, 'c@x', 'eu');               -- no tenant: not within a tenant
      CREATE TABLE dp.settings (id serial PRIMARY KEY, company_id integer, v text);
      INSERT INTO dp.settings (company_id, v) VALUES (1, 'a'), (1, 'b'), (2, 'c'), (NULL, 'd'), (NULL, 'e');
      CREATE TABLE dp.profiles (id serial PRIMARY KEY, company_id integer);
      INSERT INTO dp.profiles (company_id) VALUES (1), (2), (3)`);
    const manifest = manifestFor('dp', { table: 'companies', key: 'id', column: 'company_id' }, {
      contacts: { unique: [['email'], ['region', 'company_id', 'email']] },
      settings: { singleton: true },
      profiles: { singleton: true },
    });
    const result = await audit(manifest, ['duplicate-within-tenant']);
    expect(view(result)).toEqual([
      { check: 'duplicate-within-tenant', severity: 'error', table: 'dp.contacts', object: 'company_id, email', count: 2, samples: [[1, 'a@x'], [1, 'b@x']] },
      { check: 'duplicate-within-tenant', severity: 'error', table: 'dp.contacts', object: 'company_id, region, email', count: 1, samples: [[1, 'eu', 'a@x']] },
      { check: 'duplicate-within-tenant', severity: 'error', table: 'dp.settings', object: 'company_id', count: 1, samples: [[1]] },
    ]);
    expect(result.findings[0].samples).toEqual([[1, 'a@x'], [1, 'b@x']]); // biggest group first
    expect(result.findings[0].message).toBe('dp.contacts: 2 groups violate the per-tenant unique (email) key (3 surplus rows)');
    expect(result.findings[2].message).toBe('dp.settings: 1 group violates the per-tenant singleton key (1 surplus row)');

    await sql(`DELETE FROM dp.contacts WHERE id IN (2, 3, 5); DELETE FROM dp.settings WHERE v = 'b'`);
    const fixed = await audit(manifest, ['duplicate-within-tenant']);
    expect(fixed.findings).toEqual([]);
    expect(fixed.summary).toMatchObject({ scannedTables: 3, skippedScans: 0 });

    // A valid unique index within the key proves it; a partial or INVALID one does not.
    await sql(`CREATE UNIQUE INDEX contacts_email_uq ON dp.contacts (company_id, email);
      CREATE UNIQUE INDEX settings_partial_uq ON dp.settings (company_id) WHERE v <> 'z'`);
    await sql(`INSERT INTO dp.profiles (company_id) VALUES (3)`);
    await expect(db().client.query(`CREATE UNIQUE INDEX CONCURRENTLY profiles_company_uq ON dp.profiles (company_id)`)).rejects.toThrow(
      /could not create unique index/,
    );
    const skipped = await audit(manifest, ['duplicate-within-tenant']);
    // contacts: (company_id, email) by its index, (region, company_id, email), listing the tenant column itself, as a superset of it.
    expect(view(skipped)).toEqual([
      { check: 'duplicate-within-tenant', severity: 'error', table: 'dp.profiles', object: 'company_id', count: 1, samples: [[3]] },
    ]);
    expect(skipped.summary).toMatchObject({ scannedTables: 2, skippedScans: 2 });

    await sql(`DELETE FROM dp.profiles WHERE id = 4; DROP INDEX dp.profiles_company_uq`);
    await sql(`CREATE UNIQUE INDEX CONCURRENTLY profiles_company_uq ON dp.profiles (company_id)`);
    const clean = await audit(manifest, ['duplicate-within-tenant']);
    expect(clean.findings).toEqual([]);
    expect(clean.summary).toMatchObject({ scannedTables: 1, skippedScans: 3 });
  });

  it('hostile identifiers: the shared per-table scan and the duplicate query find NULL tenants, cross-tenant references and duplicates, then nothing once fixed', async () => {
    const schema = 'Dätä "s"; .x';
    const long = 't'.repeat(58) + 'énñ'; // 63 bytes
    expect(Buffer.byteLength(long)).toBe(63);
    const s = ident(schema);
    const t = (name: string) => `${s}.${ident(name)}`;
    const col = ident(long);
    const tenant = { table: 'Tenants; "T"', key: 'k.e"y', column: long };
    await sql(`CREATE SCHEMA ${s};
      CREATE TABLE ${t(tenant.table)} (${ident(tenant.key)} integer PRIMARY KEY);
      INSERT INTO ${t(tenant.table)} VALUES (1), (2);
      CREATE TABLE ${t('par ent')} ("i d" integer PRIMARY KEY, ${col} integer);
      INSERT INTO ${t('par ent')} VALUES (1, 1), (2, 2);
      CREATE TABLE ${t('chi"ld; {{table}}')} ("p k" integer, "p.k2" text, ${col} integer, "par; ref" integer,
        "e mail" text, PRIMARY KEY ("p k", "p.k2"),
        CONSTRAINT "fk ""to""; parent" FOREIGN KEY ("par; ref") REFERENCES ${t('par ent')} ("i d"));
      INSERT INTO ${t('chi"ld; {{table}}')} VALUES (1, 'a', 1, 1, 'x'), (2, 'b', 1, 2, 'x'), (3, 'c', NULL, 1, 'y');
      -- keyed by (tenant, "i d") only, referenced by a NOT VALID composite FK: the grouped join
      CREATE TABLE ${t('grp; "P"')} (${col} integer, "i d" integer, PRIMARY KEY (${col}, "i d"));
      INSERT INTO ${t('grp; "P"')} VALUES (1, 1), (2, 1), (2, 2);
      CREATE TABLE ${t('ch.2')} (id integer PRIMARY KEY, ${col} integer NOT NULL, "g; ref" integer);
      INSERT INTO ${t('ch.2')} VALUES (1, 1, 1), (2, 1, 2), (3, 2, 2);
      ALTER TABLE ${t('ch.2')} ADD CONSTRAINT "ch.2 ""fk""" FOREIGN KEY (${col}, "g; ref") REFERENCES ${t('grp; "P"')} NOT VALID`);
    const manifest = manifestFor(schema, tenant, {
      'par ent': null,
      'chi"ld; {{table}}': { unique: [['e mail']] },
      'grp; "P"': null,
      'ch.2': null,
    });
    const ids = ['null-tenant', 'cross-tenant-reference', 'duplicate-within-tenant'];
    const result = await audit(manifest, ids);
    const child = `${schema}.chi"ld; {{table}}`;
    expect(view(result)).toEqual([
      { check: 'null-tenant', severity: 'error', table: child, object: null, count: 1, samples: [[3, 'c']] },
      { check: 'cross-tenant-reference', severity: 'error', table: `${schema}.ch.2`, object: 'ch.2 "fk"', count: 1, samples: [2] },
      { check: 'cross-tenant-reference', severity: 'error', table: child, object: 'fk "to"; parent', count: 1, samples: [[2, 'b']] },
      { check: 'duplicate-within-tenant', severity: 'error', table: child, object: `${long}, e mail`, count: 1, samples: [[1, 'x']] },
    ]);
    // One scan per table (its NULL count and its FKs' joins), one duplicate query.
    expect(result.runs.map((r) => `${r.check}: ${r.target}`).sort()).toEqual([
      `cross-tenant-reference: ch.2 → grp; "P"`,
      `duplicate-within-tenant: chi"ld; {{table}}`,
      `null-tenant, cross-tenant-reference: chi"ld; {{table}} → par ent`,
      'null-tenant: par ent',
    ]);

    await sql(`UPDATE ${t('chi"ld; {{table}}')} SET ${col} = 2, "e mail" = 'z' WHERE "p k" = 2;
      UPDATE ${t('chi"ld; {{table}}')} SET ${col} = 1 WHERE "p k" = 3;
      DELETE FROM ${t('ch.2')} WHERE id = 2`);
    expect((await audit(manifest, ids)).findings).toEqual([]);
  });
});

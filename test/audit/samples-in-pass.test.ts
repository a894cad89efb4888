// Samples of the data checks come from the pass that counts: exact, the first 5 bad rows in table
// order, wherever they sit (start, end, both), and one read per table answers every check on it.
import { describe, expect, it } from 'vitest';
import { MAX_FK_JOINS } from '../../src/audit/data-checks.js';
import { runAudit } from '../../src/audit/runner.js';
import type { AuditResult } from '../../src/audit/types.js';
import { parseManifest } from '../../src/config/manifest.js';
import { useTestDatabase } from '../support/database.js';

const manifest = parseManifest({
  schema: 'sp',
  tenant: { table: 'companies', key: 'id', column: 'company_id', setting: 'app.tenant' },
  roles: { app: ['crm_app_never_created'] },
  tables: { contacts: null, deals: null },
});

const ids = ['null-tenant', 'cross-tenant-reference', 'unknown-tenant'];
const view = (r: AuditResult) => r.findings.map((f) => `${f.check} ${f.table} ${f.object ?? '-'} ${f.count} ${JSON.stringify(f.samples)}`);

describe('data-check samples in the counting pass', () => {
  const db = useTestDatabase();
  const sql = (text: string) => db().client.query(text);
  const audit = () => runAudit({ databaseUrl: db().url, manifest, only: ids });

  it('few bad rows early and late in a large table: exact counts and samples in table order; once fixed, nothing', async () => {
    await sql(`CREATE SCHEMA sp;
      CREATE TABLE sp.companies (id integer PRIMARY KEY);
      INSERT INTO sp.companies VALUES (1), (2);
      CREATE TABLE sp.contacts (id integer PRIMARY KEY, company_id integer);
      INSERT INTO sp.contacts SELECT g, 1 + g % 2 FROM generate_series(1, 100) g;  -- odd ids: company 2, even: 1
      CREATE TABLE sp.deals (id integer PRIMARY KEY, company_id integer, contact_id integer REFERENCES sp.contacts, helper_id integer REFERENCES sp.contacts);
      -- 20,000 rows in id order; good ones reference a contact of their company
      INSERT INTO sp.deals SELECT g, 1, 2 * (g % 50) + 2, NULL FROM generate_series(1, 20000) g;
      -- cross-tenant (contact_id): 2 at the start, 2 at the end; NULL tenants: 1 at the start, 1 at the end;
      -- unknown tenant: 1 in the middle; helper_id: 7 bad rows (more than 5) spread out
      UPDATE sp.deals SET contact_id = 1 WHERE id IN (1, 2, 19999, 20000);
      UPDATE sp.deals SET company_id = NULL WHERE id IN (3, 19998);
      UPDATE sp.deals SET company_id = 9, contact_id = NULL WHERE id = 10000;
      UPDATE sp.deals SET helper_id = 3 WHERE id IN (4, 5, 6, 7000, 8000, 9000, 19997)`);
    // Table order = physical order: rewrite the table so that it follows id again after the UPDATEs.
    await sql(`CLUSTER sp.deals USING deals_pkey; ANALYZE sp.deals`);
    const result = await audit();
    expect(view(result)).toEqual([
      'null-tenant sp.deals - 2 [3,19998]',
      'cross-tenant-reference sp.deals deals_contact_id_fkey 4 [1,2,19999,20000]',
      'cross-tenant-reference sp.deals deals_helper_id_fkey 7 [4,5,6,7000,8000]',
      'unknown-tenant sp.deals - 1 [[10000,"9"]]',
    ]);
    // One read of deals answers its three checks (and its two FKs); contacts is clean.
    expect(result.runs.filter((r) => r.target?.startsWith('deals')).map((r) => `${r.check}: ${r.target}`)).toEqual([
      'null-tenant, cross-tenant-reference, unknown-tenant: deals → contacts, companies',
    ]);

    // The rows fixed: nothing (the scans still run, and find no row).
    await sql(`UPDATE sp.deals SET contact_id = 2 WHERE id IN (1, 2, 19999, 20000);
      UPDATE sp.deals SET company_id = 1 WHERE id IN (3, 19998, 10000);
      UPDATE sp.deals SET helper_id = NULL WHERE helper_id = 3`);
    const clean = await audit();
    expect(clean.findings).toEqual([]);
    expect(clean.runs.some((r) => r.target?.startsWith('deals'))).toBe(true);
  });

  it('a table moved by UPDATEs: the samples follow the physical order, not the key', async () => {
    await sql(`DROP SCHEMA IF EXISTS sp CASCADE; CREATE SCHEMA sp;
      CREATE TABLE sp.companies (id integer PRIMARY KEY);
      INSERT INTO sp.companies VALUES (1), (2);
      CREATE TABLE sp.contacts (id integer PRIMARY KEY, company_id integer);
      INSERT INTO sp.contacts VALUES (1, 1), (2, 2);
      CREATE TABLE sp.deals (id integer PRIMARY KEY, company_id integer, contact_id integer REFERENCES sp.contacts, helper_id integer REFERENCES sp.contacts);
      INSERT INTO sp.deals SELECT g, 1, 1, NULL FROM generate_series(1, 1000) g;
      UPDATE sp.deals SET contact_id = 2 WHERE id = 900;
      UPDATE sp.deals SET contact_id = 2 WHERE id = 5;  -- written after 900: later in the table`);
    const result = await audit();
    expect(view(result)).toEqual(['cross-tenant-reference sp.deals deals_contact_id_fkey 2 [900,5]']);
  });

  it('the data queries start with the biggest table (estimated rows), whatever the manifest order', async () => {
    await sql(`DROP SCHEMA IF EXISTS so CASCADE; CREATE SCHEMA so;
      CREATE TABLE so.companies (id integer PRIMARY KEY);
      INSERT INTO so.companies VALUES (1);
      CREATE TABLE so.small (id integer PRIMARY KEY, company_id integer);
      INSERT INTO so.small SELECT g, 1 FROM generate_series(1, 10) g;
      CREATE TABLE so.big (id integer PRIMARY KEY, company_id integer);
      INSERT INTO so.big SELECT g, 1 FROM generate_series(1, 5000) g;
      CREATE TABLE so.middle (id integer PRIMARY KEY, company_id integer);
      INSERT INTO so.middle SELECT g, 1 FROM generate_series(1, 500) g;
      ANALYZE so.small, so.big, so.middle`);
    const ordered = parseManifest({
      schema: 'so',
      tenant: { table: 'companies', key: 'id', column: 'company_id', setting: 'app.tenant' },
      roles: { app: ['crm_app_never_created'] },
      tables: { small: null, middle: null, big: null },
    });
    // One data connection: the run log is the order the data queries ran in.
    const result = await runAudit({ databaseUrl: db().url, manifest: ordered, only: ['null-tenant'], concurrency: 2 });
    expect(result.runs.map((r) => r.target)).toEqual(['big', 'middle', 'small']);
  });

  it('a child with more FKs than MAX_FK_JOINS is read by as many scans as needed; each FK still counted exactly, once fixed nothing', async () => {
    expect(MAX_FK_JOINS).toBe(2);
    await sql(`DROP SCHEMA IF EXISTS sp CASCADE; CREATE SCHEMA sp;
      CREATE TABLE sp.companies (id integer PRIMARY KEY);
      INSERT INTO sp.companies VALUES (1), (2);
      CREATE TABLE sp.contacts (id integer PRIMARY KEY, company_id integer);
      INSERT INTO sp.contacts VALUES (1, 1), (2, 2);
      CREATE TABLE sp.deals (id integer PRIMARY KEY, company_id integer,
        a_id integer REFERENCES sp.contacts, b_id integer REFERENCES sp.contacts, c_id integer REFERENCES sp.contacts);
      INSERT INTO sp.deals SELECT g, 1, 1, 1, 1 FROM generate_series(1, 100) g;
      UPDATE sp.deals SET a_id = 2 WHERE id = 10;
      UPDATE sp.deals SET c_id = 2 WHERE id IN (20, 30);
      UPDATE sp.deals SET company_id = NULL WHERE id = 40`);
    const result = await audit();
    expect(view(result)).toEqual([
      'null-tenant sp.deals - 1 [40]',
      'cross-tenant-reference sp.deals deals_a_id_fkey 1 [10]',
      'cross-tenant-reference sp.deals deals_c_id_fkey 2 [20,30]',
    ]);
    // Two FK joins (and the NULL and unknown-tenant counts) in the first scan, the third FK in a second one.
    expect(result.runs.filter((r) => r.target?.startsWith('deals')).map((r) => `${r.check}: ${r.target}`).sort()).toEqual([
      'cross-tenant-reference: deals → contacts',
      'null-tenant, cross-tenant-reference, unknown-tenant: deals → contacts, companies',
    ]);
    await sql(`UPDATE sp.deals SET a_id = 1, c_id = 1, company_id = 1`);
    expect((await audit()).findings).toEqual([]);
  });
});

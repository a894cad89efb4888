// Catalog checks 0001–0004, 0006–0008, 0010, 0012, two-sided: plant the defect → exactly its finding; fix it → none.
import { describe, expect, it } from 'vitest';
import { runAudit } from '../../src/audit/runner.js';
import type { AuditResult } from '../../src/audit/types.js';
import { parseManifest, type Manifest } from '../../src/config/manifest.js';
import { ident } from '../../src/db/quote.js';
import { useTestDatabase } from '../support/database.js';

interface Shape {
  table: string;
  key: string;
  column: string;
  type: string;
}
const COMPANIES: Shape = { table: 'companies', key: 'id', column: 'company_id', type: 'integer' };
const ORGANIZATIONS: Shape = { table: 'organizations', key: 'id', column: 'org_id', type: 'uuid' };
const AGENCIES: Shape = { table: 'agencies', key: 'id', column: 'agency_id', type: 'bigint' };

const manifestFor = (schema: string, shape: Shape, tables: Record<string, unknown>): Manifest =>
  parseManifest({
    schema,
    tenant: { table: shape.table, key: shape.key, column: shape.column, setting: 'app.tenant' },
    roles: { app: ['crm_app_never_created'] },
    tables,
  });

describe('catalog checks 0001–0012 (two-sided)', () => {
  const db = useTestDatabase();
  const sql = async (text: string) => {
    await db().client.query(text);
  };
  const audit = (manifest: Manifest, id: string): Promise<AuditResult> =>
    runAudit({ databaseUrl: db().url, manifest, only: [id], concurrency: 1 });
  /** The findings of one check as `table | object` strings (table schema-qualified), sorted. */
  const found = async (manifest: Manifest, id: string): Promise<string[]> => {
    const result = await audit(manifest, id);
    for (const f of result.findings) expect(f.check).toBe(id);
    return result.findings.map((f) => `${f.table ?? '-'} | ${f.object ?? '-'}`).sort();
  };
  /** A schema with the tenant table of `shape` (key of its type) and nothing else. */
  const tenantSchema = async (schema: string, shape: Shape) => {
    const pk = shape.type === 'uuid' ? 'uuid PRIMARY KEY DEFAULT gen_random_uuid()' : `${shape.type} PRIMARY KEY`;
    await sql(`CREATE SCHEMA ${ident(schema)};
      CREATE TABLE ${ident(schema)}.${ident(shape.table)} (${ident(shape.key)} ${pk}, name text)`);
  };

  it('missing-table: a manifest table that does not exist (a view of that name does not count)', async () => {
    await tenantSchema('mt', COMPANIES);
    await sql(`CREATE TABLE mt.contacts (id serial PRIMARY KEY, company_id integer);
      CREATE VIEW mt.deals AS SELECT 1 AS id, 1 AS company_id`);
    const manifest = manifestFor('mt', COMPANIES, { contacts: null, deals: null, 'quotes ghost': null });
    const result = await audit(manifest, 'missing-table');
    expect(result.findings.map((f) => [f.check, f.severity, f.table, f.object, f.count])).toEqual([
      ['missing-table', 'error', 'mt.deals', null, null],
      ['missing-table', 'error', 'mt.quotes ghost', null, null],
    ]);
    expect(result.findings[1].message).toContain('mt.quotes ghost is listed in the manifest but does not exist');
    expect(result.exitCode).toBe(1);
    await sql(`DROP VIEW mt.deals; CREATE TABLE mt.deals (id serial PRIMARY KEY, company_id integer);
      CREATE TABLE mt."quotes ghost" (id serial PRIMARY KEY, company_id integer)`);
    expect(await found(manifest, 'missing-table')).toEqual([]);
  });

  it('missing-tenant-column: a scoped table without the column (a dropped column is missing too)', async () => {
    await tenantSchema('mc', ORGANIZATIONS);
    await sql(`CREATE TABLE mc.projects (id serial PRIMARY KEY, org_id uuid);
      CREATE TABLE mc.notes (id serial PRIMARY KEY, organization_id uuid);
      CREATE TABLE mc.files (id serial PRIMARY KEY, org_id uuid); ALTER TABLE mc.files DROP COLUMN org_id`);
    const manifest = manifestFor('mc', ORGANIZATIONS, { projects: null, notes: null, files: null });
    expect(await found(manifest, 'missing-tenant-column')).toEqual(['mc.files | -', 'mc.notes | -']);
    await sql(`ALTER TABLE mc.notes ADD COLUMN org_id uuid; ALTER TABLE mc.files ADD COLUMN org_id uuid`);
    expect(await found(manifest, 'missing-tenant-column')).toEqual([]);
  });

  it('tenant-column-type-mismatch: integer or text beside a bigint / uuid key; the same type is clean', async () => {
    await tenantSchema('tm', AGENCIES);
    await sql(`CREATE TABLE tm.clients (id serial PRIMARY KEY, agency_id integer);
      CREATE TABLE tm.briefs (id serial PRIMARY KEY, agency_id bigint);
      CREATE TABLE tm.invoices (id serial PRIMARY KEY, agency_id numeric(20, 0))`);
    const manifest = manifestFor('tm', AGENCIES, { clients: null, briefs: null, invoices: null });
    const result = await audit(manifest, 'tenant-column-type-mismatch');
    expect(result.findings.map((f) => `${f.table} ${f.severity}`)).toEqual(['tm.clients error', 'tm.invoices error']);
    expect(result.findings[0].message).toBe('tm.clients.agency_id is integer, the tenant key agencies.id is bigint');
    await sql(`ALTER TABLE tm.clients ALTER COLUMN agency_id TYPE bigint; ALTER TABLE tm.invoices ALTER COLUMN agency_id TYPE bigint`);
    expect(await found(manifest, 'tenant-column-type-mismatch')).toEqual([]);

    await tenantSchema('tu', ORGANIZATIONS);
    await sql(`CREATE TABLE tu.projects (id serial PRIMARY KEY, org_id text)`);
    const uuidManifest = manifestFor('tu', ORGANIZATIONS, { projects: null });
    expect(await found(uuidManifest, 'tenant-column-type-mismatch')).toEqual(['tu.projects | -']);
    await sql(`ALTER TABLE tu.projects ALTER COLUMN org_id TYPE uuid USING org_id::uuid`);
    expect(await found(uuidManifest, 'tenant-column-type-mismatch')).toEqual([]);

    // A domain is its base type: a domain-typed key beside base-typed columns (and back) is not a mismatch.
    await sql(`CREATE DOMAIN tu.org_ref AS uuid; CREATE DOMAIN tu.short_code AS varchar(8);
      CREATE TABLE tu.files (id serial PRIMARY KEY, org_id tu.org_ref);
      CREATE TABLE tu.tags (id serial PRIMARY KEY, org_id tu.short_code)`);
    const domains = manifestFor('tu', ORGANIZATIONS, { projects: null, files: null, tags: null });
    expect(await found(domains, 'tenant-column-type-mismatch')).toEqual(['tu.tags | -']);
    await sql(`ALTER TABLE tu.organizations ALTER COLUMN id TYPE tu.org_ref`);
    expect(await found(domains, 'tenant-column-type-mismatch')).toEqual(['tu.tags | -']);
  });

  it('nullable-tenant-column: a nullable column is a warning; NOT NULL is clean', async () => {
    await tenantSchema('nn', COMPANIES);
    await sql(`CREATE TABLE nn.contacts (id serial PRIMARY KEY, company_id integer);
      CREATE TABLE nn.deals (id serial PRIMARY KEY, company_id integer NOT NULL)`);
    const manifest = manifestFor('nn', COMPANIES, { contacts: null, deals: null });
    const result = await audit(manifest, 'nullable-tenant-column');
    expect(result.findings.map((f) => [f.severity, f.table, f.message])).toEqual([
      ['warning', 'nn.contacts', 'nn.contacts.company_id allows NULL'],
    ]);
    expect(result.exitCode).toBe(0); // a warning does not fail the default --fail-on error
    await sql(`ALTER TABLE nn.contacts ALTER COLUMN company_id SET NOT NULL`);
    expect(await found(manifest, 'nullable-tenant-column')).toEqual([]);
  });

  it('missing-tenant-fk and unvalidated-tenant-fk: none, to the wrong table, NOT VALID, validated', async () => {
    await tenantSchema('fk', AGENCIES);
    await sql(`CREATE TABLE fk.offices (id bigint PRIMARY KEY);
      CREATE TABLE fk.clients (id serial PRIMARY KEY, agency_id bigint);
      CREATE TABLE fk.briefs (id serial PRIMARY KEY, agency_id bigint REFERENCES fk.offices (id));
      CREATE TABLE fk.invoices (id serial PRIMARY KEY, agency_id bigint REFERENCES fk.agencies (id))`);
    const manifest = manifestFor('fk', AGENCIES, { clients: null, briefs: null, invoices: null });
    expect(await found(manifest, 'missing-tenant-fk')).toEqual(['fk.briefs | -', 'fk.clients | -']);
    expect(await found(manifest, 'unvalidated-tenant-fk')).toEqual([]);

    await sql(`ALTER TABLE fk.clients ADD CONSTRAINT "clients agency; fk" FOREIGN KEY (agency_id) REFERENCES fk.agencies (id) NOT VALID;
      ALTER TABLE fk.briefs ADD CONSTRAINT briefs_agency_fk FOREIGN KEY (agency_id) REFERENCES fk.agencies (id)`);
    expect(await found(manifest, 'missing-tenant-fk')).toEqual([]);
    const unvalidated = await audit(manifest, 'unvalidated-tenant-fk');
    expect(unvalidated.findings.map((f) => [f.severity, f.table, f.object])).toEqual([
      ['warning', 'fk.clients', 'clients agency; fk'],
    ]);
    await sql(`ALTER TABLE fk.clients VALIDATE CONSTRAINT "clients agency; fk"`);
    expect(await found(manifest, 'unvalidated-tenant-fk')).toEqual([]);
  });

  it('unvalidated-tenant-fk: a NOT VALID foreign key to another column of the tenant table is not the tenant FK', async () => {
    await tenantSchema('fk2', COMPANIES);
    await sql(`ALTER TABLE fk2.companies ADD COLUMN legacy_no integer UNIQUE;
      CREATE TABLE fk2.contacts (id serial PRIMARY KEY, company_id integer REFERENCES fk2.companies (id));
      ALTER TABLE fk2.contacts ADD CONSTRAINT legacy_fk FOREIGN KEY (company_id) REFERENCES fk2.companies (legacy_no) NOT VALID`);
    const manifest = manifestFor('fk2', COMPANIES, { contacts: null });
    expect(await found(manifest, 'missing-tenant-fk')).toEqual([]);
    expect(await found(manifest, 'unvalidated-tenant-fk')).toEqual([]);
  });

  it('missing-tenant-index: composite PK/UNIQUE led by the column counts; trailing, partial and INVALID indexes do not', async () => {
    await tenantSchema('ix', COMPANIES);
    await sql(`CREATE TABLE ix.contacts (id integer NOT NULL, company_id integer NOT NULL, email text, PRIMARY KEY (company_id, id));
      CREATE TABLE ix.deals (id integer PRIMARY KEY, company_id integer, code text, UNIQUE (company_id, code));
      CREATE TABLE ix.notes (id integer PRIMARY KEY, company_id integer, body text);
      CREATE INDEX notes_trailing ON ix.notes (body, company_id);
      CREATE INDEX notes_partial ON ix.notes (company_id) WHERE body IS NOT NULL;
      CREATE TABLE ix.files (id integer PRIMARY KEY, company_id integer);
      INSERT INTO ix.files VALUES (1, 7), (2, 7)`);
    // A failed CREATE UNIQUE INDEX CONCURRENTLY (duplicate data) leaves an INVALID index behind.
    await expect(db().client.query(`CREATE UNIQUE INDEX CONCURRENTLY files_company_uq ON ix.files (company_id)`)).rejects.toThrow(
      /could not create unique index/,
    );
    const { rows } = await db().client.query(`SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix.files_company_uq'::regclass`);
    expect(rows).toEqual([{ indisvalid: false }]);

    const manifest = manifestFor('ix', COMPANIES, { contacts: null, deals: null, notes: null, files: null });
    const result = await audit(manifest, 'missing-tenant-index');
    expect(result.findings.map((f) => [f.severity, f.table, f.object])).toEqual([
      ['warning', 'ix.files', null],
      ['warning', 'ix.notes', null],
    ]);
    expect(result.findings[0].message).toBe('ix.files has no valid index led by company_id (files_company_uq is INVALID: rebuild it)');
    expect(result.findings[1].message).toBe('ix.notes has no valid index led by company_id');

    await sql(`DROP INDEX ix.files_company_uq; CREATE INDEX files_company ON ix.files (company_id)`);
    await sql(`CREATE INDEX CONCURRENTLY notes_company ON ix.notes (company_id, id)`);
    expect(await found(manifest, 'missing-tenant-index')).toEqual([]);
  });

  it('fk-not-tenant-scoped: single-column FKs between scoped tables (self-references too); composite FKs, FKs to the tenant table and to unscoped tables are fine', async () => {
    await tenantSchema('fs', COMPANIES);
    await sql(`CREATE TABLE fs.countries (code text PRIMARY KEY);
      CREATE TABLE fs.contacts (id integer PRIMARY KEY, company_id integer NOT NULL REFERENCES fs.companies (id),
        country text REFERENCES fs.countries (code), UNIQUE (company_id, id));
      CREATE TABLE fs.deals (id integer PRIMARY KEY, company_id integer NOT NULL REFERENCES fs.companies (id),
        contact_id integer CONSTRAINT "deals contact; fk" REFERENCES fs.contacts (id),
        parent_id integer CONSTRAINT deals_parent_fk REFERENCES fs.deals (id),
        owner_id integer, UNIQUE (company_id, id));
      ALTER TABLE fs.deals ADD CONSTRAINT deals_owner_fk FOREIGN KEY (company_id, owner_id) REFERENCES fs.contacts (company_id, id)`);
    const manifest = manifestFor('fs', COMPANIES, { contacts: null, deals: null });
    const result = await audit(manifest, 'fk-not-tenant-scoped');
    // One finding per table, listing its foreign keys.
    expect(result.findings.map((f) => [f.severity, f.table, f.object, f.count, f.samples])).toEqual([
      ['warning', 'fs.deals', null, 2, ['deals contact; fk', 'deals_parent_fk']],
    ]);
    expect(result.findings[0].message).toBe(
      "2 foreign keys on fs.deals reference scoped tables without company_id (deals contact; fk → contacts, deals_parent_fk → deals): a row can point at another tenant's row",
    );
    // A composite key whose tenant column maps onto another column is not tenant-scoped either.
    await sql(`ALTER TABLE fs.deals DROP CONSTRAINT "deals contact; fk", DROP CONSTRAINT deals_parent_fk;
      ALTER TABLE fs.deals ADD CONSTRAINT "deals contact; fk" FOREIGN KEY (company_id, contact_id) REFERENCES fs.contacts (company_id, id) NOT VALID;
      ALTER TABLE fs.deals ADD CONSTRAINT deals_parent_fk FOREIGN KEY (company_id, parent_id) REFERENCES fs.deals (company_id, id)`);
    expect(await found(manifest, 'fk-not-tenant-scoped')).toEqual([]);
  });

  it('unscoped-unique: global UNIQUE constraints and indexes, a composite PK without the tenant; the surrogate PK and tenant-led keys are fine', async () => {
    await tenantSchema('uu', ORGANIZATIONS);
    await sql(`CREATE TABLE uu.users (id serial PRIMARY KEY, org_id uuid NOT NULL, email text CONSTRAINT users_email_key UNIQUE,
        login text, code text, UNIQUE (org_id, code));
      CREATE UNIQUE INDEX "users lower(login); idx" ON uu.users (lower(login));
      CREATE UNIQUE INDEX users_code_incl ON uu.users (code) INCLUDE (org_id);
      CREATE TABLE uu.memberships (user_id integer NOT NULL, team_id integer NOT NULL, org_id uuid NOT NULL,
        PRIMARY KEY (user_id, team_id));
      CREATE TABLE uu.teams (org_id uuid NOT NULL, id integer NOT NULL, PRIMARY KEY (org_id, id))`);
    const manifest = manifestFor('uu', ORGANIZATIONS, { users: null, memberships: null, teams: null });
    const result = await audit(manifest, 'unscoped-unique');
    expect(result.findings.map((f) => [f.severity, f.table, f.object])).toEqual([
      ['warning', 'uu.memberships', 'memberships_pkey'],
      ['warning', 'uu.users', 'users lower(login); idx'],
      ['warning', 'uu.users', 'users_code_incl'],
      ['warning', 'uu.users', 'users_email_key'],
    ]);
    expect(result.findings.find((f) => f.object === 'users_email_key')!.message).toBe(
      'unique constraint users_email_key on uu.users (CREATE UNIQUE INDEX users_email_key ON uu.users USING btree (email)) omits org_id: uniqueness is global across tenants',
    );
    await sql(`ALTER TABLE uu.users DROP CONSTRAINT users_email_key, ADD CONSTRAINT users_email_key UNIQUE (org_id, email);
      DROP INDEX uu."users lower(login); idx"; CREATE UNIQUE INDEX "users lower(login); idx" ON uu.users (org_id, lower(login));
      DROP INDEX uu.users_code_incl;
      ALTER TABLE uu.memberships DROP CONSTRAINT memberships_pkey, ADD PRIMARY KEY (org_id, user_id, team_id)`);
    expect(await found(manifest, 'unscoped-unique')).toEqual([]);
  });

  it('partitioned tables: the parent carries the checks; partition clones of keys and FKs raise nothing extra', async () => {
    await tenantSchema('pt', COMPANIES);
    await sql(`CREATE TABLE pt.contacts (company_id integer NOT NULL REFERENCES pt.companies, id integer NOT NULL,
        email text, PRIMARY KEY (company_id, id)) PARTITION BY LIST (company_id);
      CREATE TABLE pt.contacts_1 PARTITION OF pt.contacts FOR VALUES IN (1);
      CREATE TABLE pt.contacts_2 PARTITION OF pt.contacts FOR VALUES IN (2);
      CREATE TABLE pt.events (company_id integer REFERENCES pt.companies, id integer NOT NULL, contact_id integer,
        at date NOT NULL, PRIMARY KEY (company_id, id, at), FOREIGN KEY (company_id, contact_id) REFERENCES pt.contacts)
        PARTITION BY RANGE (at);
      CREATE TABLE pt.events_2026 PARTITION OF pt.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
      CREATE TABLE pt.notes (id integer PRIMARY KEY, company_id integer NOT NULL REFERENCES pt.companies, contact_id integer,
        contact_company integer, FOREIGN KEY (contact_company, contact_id) REFERENCES pt.contacts)`);
    const manifest = manifestFor('pt', COMPANIES, { contacts: null, events: null, notes: null });
    const ids = ['missing-table', 'missing-tenant-column', 'tenant-column-type-mismatch', 'nullable-tenant-column',
      'missing-tenant-fk', 'unvalidated-tenant-fk', 'missing-tenant-index', 'fk-not-tenant-scoped', 'unscoped-unique'];
    const result = await runAudit({ databaseUrl: db().url, manifest, only: ids, concurrency: 2 });
    // Only notes (a plain table): no index on company_id, and a composite FK whose tenant side is another column.
    expect(result.findings.map((f) => `${f.check} | ${f.table} | ${f.object ?? '-'}`)).toEqual([
      'missing-tenant-index | pt.notes | -',
      'fk-not-tenant-scoped | pt.notes | -',
    ]);
  });

  it('hostile identifiers: quotes, dots, semicolons, spaces, unicode and 63-byte names in every catalog check', async () => {
    const schema = 'Tenancy "x"; DROP.schema é';
    const long = 'c'.repeat(59) + 'ñé'; // 63 bytes
    const shape: Shape = { table: 'Cüstomers "co".;', key: 'ID "k"', column: long, type: 'integer' };
    expect(Buffer.byteLength(long)).toBe(63);
    const s = ident(schema);
    const t = (name: string) => `${s}.${ident(name)}`;
    const col = ident(long);
    await tenantSchema(schema, shape);
    await sql(`CREATE TABLE ${t('deal "items"; x')} (id integer PRIMARY KEY, ${col} bigint, "e.mail" text UNIQUE, parent_id integer);
      CREATE TABLE ${t('notes.v2')} (id integer PRIMARY KEY, other integer);
      ALTER TABLE ${t('deal "items"; x')} ADD CONSTRAINT "self; fk ""q""" FOREIGN KEY (parent_id) REFERENCES ${t('deal "items"; x')} (id)`);
    const manifest = manifestFor(schema, shape, { 'deal "items"; x': { unique: [['e.mail']] }, 'notes.v2': null, 'gone; ": x': null });
    const deal = `${schema}.deal "items"; x`;
    const ids = [
      'missing-table',
      'missing-tenant-column',
      'tenant-column-type-mismatch',
      'nullable-tenant-column',
      'missing-tenant-fk',
      'unvalidated-tenant-fk',
      'missing-tenant-index',
      'fk-not-tenant-scoped',
      'unscoped-unique',
    ];
    const all = await runAudit({ databaseUrl: db().url, manifest, only: ids, concurrency: 2 });
    expect(all.findings.map((f) => `${f.check} | ${f.table} | ${f.object ?? '-'}`)).toEqual([
      `missing-table | ${schema}.gone; ": x | -`,
      `missing-tenant-column | ${schema}.notes.v2 | -`,
      `tenant-column-type-mismatch | ${deal} | -`,
      `nullable-tenant-column | ${deal} | -`,
      `missing-tenant-fk | ${deal} | -`,
      `missing-tenant-index | ${deal} | -`,
      `fk-not-tenant-scoped | ${deal} | -`,
      `unscoped-unique | ${deal} | deal "items"; x_e.mail_key`,
    ]);

    await sql(`CREATE TABLE ${t('gone; ": x')} (id integer PRIMARY KEY, ${col} integer NOT NULL);
      ALTER TABLE ${t('gone; ": x')} ADD FOREIGN KEY (${col}) REFERENCES ${t(shape.table)} NOT VALID;
      CREATE INDEX ON ${t('gone; ": x')} (${col});
      ALTER TABLE ${t('notes.v2')} ADD COLUMN ${col} integer NOT NULL REFERENCES ${t(shape.table)};
      CREATE INDEX ON ${t('notes.v2')} (${col});
      ALTER TABLE ${t('deal "items"; x')} ALTER COLUMN ${col} TYPE integer, ALTER COLUMN ${col} SET NOT NULL,
        ADD FOREIGN KEY (${col}) REFERENCES ${t(shape.table)},
        ADD UNIQUE (${col}, id), DROP CONSTRAINT "self; fk ""q""", DROP CONSTRAINT ${ident('deal "items"; x_e.mail_key')},
        ADD UNIQUE (${col}, "e.mail");
      ALTER TABLE ${t('deal "items"; x')} ADD FOREIGN KEY (${col}, parent_id) REFERENCES ${t('deal "items"; x')} (${col}, id)`);
    const after = await runAudit({ databaseUrl: db().url, manifest, only: ids, concurrency: 2 });
    // The only finding left is the deliberately NOT VALID tenant FK on the new table (its name truncated to 63 bytes).
    const { rows } = await db().client.query(
      `SELECT conname FROM pg_constraint WHERE contype = 'f' AND conrelid = $1::regclass`,
      [`${s}.${ident('gone; ": x')}`],
    );
    expect(after.findings.map((f) => `${f.check} | ${f.table} | ${f.object ?? '-'}`)).toEqual([
      `unvalidated-tenant-fk | ${schema}.gone; ": x | ${rows[0].conname}`,
    ]);
  });
});

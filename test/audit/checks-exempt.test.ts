// exempt-table-holds-tenant-data: an exempt table an app role can read with a tenant column, an FK into the fence or a *_type/*_id pair; two-sided.
import { beforeAll, describe, expect, it } from 'vitest';
import { ident } from '../../src/db/quote.js';
import { useTestDatabase } from '../support/database.js';
import { brief, check, fixture, type Fixture } from './check-helpers.js';

describe('exempt-table-holds-tenant-data', () => {
  const db = useTestDatabase();
  let f: Fixture;
  const sql = (text: string) => db().client.query(text);
  const ID = 'exempt-table-holds-tenant-data';

  beforeAll(async () => {
    f = await fixture(db().client, (p, a) => db().createRole(p, a));
    await sql(`
      CREATE TABLE ${f.q('custom_roles')} (id int PRIMARY KEY, tenant_id int, name text);
      CREATE UNIQUE INDEX ON ${f.q('notes')} (id);
      CREATE TABLE ${f.q('attachments')} (id int PRIMARY KEY, note_id int REFERENCES ${f.q('notes')} (id));
    `);
    await sql(`
      CREATE TABLE ${f.q('versions')} (id int PRIMARY KEY, item_type text, item_id text, whodunnit text);
      CREATE TABLE ${f.q('currencies')} (code text PRIMARY KEY, name text);
      CREATE TABLE ${f.q('prices')} (id int PRIMARY KEY, currency text REFERENCES ${f.q('currencies')}, price_type text, amount int);
      GRANT SELECT ON ${f.q('custom_roles')}, ${f.q('attachments')}, ${f.q('currencies')}, ${f.q('prices')} TO ${ident(f.app)};
      GRANT SELECT (id, item_type) ON ${f.q('versions')} TO ${ident(f.app)};
    `);
  });

  const exempt = {
    custom_roles: 'roles are global',
    attachments: 'files live in S3',
    versions: 'gem-managed history',
    currencies: 'ISO currency list',
    prices: 'global price list',
  };

  it('reports each exempt table an app role can read that carries tenant marks, quoting the reason; not the lookups (an FK to another exempt table, a *_type without its *_id)', async () => {
    const found = await check(db().url, f.manifest({ exempt }), ID);
    expect(found.map((x) => `${x.severity} ${x.table}`)).toEqual(
      ['attachments', 'custom_roles', 'versions'].map((t) => `warning ${f.schema}.${t}`),
    );
    const by = (t: string) => found.find((x) => x.table === `${f.schema}.${t}`)!;
    expect(by('custom_roles').message).toContain('(exempt: "roles are global") has the tenant column tenant_id');
    expect(by('custom_roles').message).toContain(`${f.app} can read it`);
    expect(by('attachments').samples).toEqual(['references notes']);
    expect(by('versions').samples).toEqual(['has the polymorphic pair item_type/item_id']);
    expect(by('versions').message).toContain('gem-managed history');
  });

  it('silent once the app roles cannot read them (or the tables are scoped instead)', async () => {
    await sql(`REVOKE SELECT ON ${f.q('custom_roles')}, ${f.q('attachments')} FROM ${ident(f.app)};
      REVOKE SELECT (id, item_type) ON ${f.q('versions')} FROM ${ident(f.app)}`);
    try {
      expect(await brief(db().url, f.manifest({ exempt }), ID)).toEqual([]);
    } finally {
      await sql(`GRANT SELECT ON ${f.q('custom_roles')}, ${f.q('attachments')}, ${f.q('versions')} TO ${ident(f.app)}`);
    }
  });
});

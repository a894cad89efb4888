// An audit a reviewer reads to the end (#14.3): keys scoped through a parent are silent, one finding per table of FKs and per view; two-sided.
import { beforeAll, describe, expect, it } from 'vitest';
import { ident } from '../../src/db/quote.js';
import { useTestDatabase } from '../support/database.js';
import { brief, check, fixture, type Fixture } from './check-helpers.js';

describe('one finding per object', () => {
  const db = useTestDatabase();
  let f: Fixture;
  const sql = (text: string) => db().client.query(text);

  beforeAll(async () => {
    f = await fixture(db().client, (p, a) => db().createRole(p, a), { tables: ['invoices', 'items'] });
    await sql(`CREATE TABLE ${f.q('countries')} (code text PRIMARY KEY);
      CREATE UNIQUE INDEX ON ${f.q('invoices')} (id);
      ALTER TABLE ${f.q('items')} ADD COLUMN invoice_id int REFERENCES ${f.q('invoices')} (id), ADD COLUMN position int,
        ADD COLUMN country text REFERENCES ${f.q('countries')}, ADD COLUMN code text`);
  });

  // invoices (id) is unique on its own (the fixture's parent key): only items' keys are looked at here.
  const onItems = async (m: ReturnType<Fixture['manifest']>) => (await brief(db().url, m, 'unscoped-unique')).filter((x) => x.includes('.items '));

  it('unscoped-unique: silent for a key containing a foreign key to a scoped parent; reported for a key through an exempt lookup', async () => {
    const m = f.manifest({ exempt: { countries: 'ISO list' } });
    await sql(`CREATE UNIQUE INDEX items_position ON ${f.q('items')} (invoice_id, position)`);
    expect(await onItems(m)).toEqual([]);
    await sql(`CREATE UNIQUE INDEX items_country_code ON ${f.q('items')} (country, code)`);
    expect(await onItems(m)).toEqual([`warning ${f.schema}.items items_country_code`]);
    // Without the foreign key, the same (invoice_id, position) key is global again.
    await sql(`ALTER TABLE ${f.q('items')} DROP CONSTRAINT items_invoice_id_fkey`);
    expect(await onItems(m)).toEqual([
      `warning ${f.schema}.items items_country_code`,
      `warning ${f.schema}.items items_position`,
    ]);
    // A composite (tenant_id, invoice_id) key, as composite_keys makes it, scopes the key too.
    await sql(`ALTER TABLE ${f.q('items')} ADD CONSTRAINT items_invoice_fk FOREIGN KEY (tenant_id, invoice_id) REFERENCES ${f.q('invoices')} (tenant_id, id)`);
    expect(await onItems(m)).toEqual([`warning ${f.schema}.items items_country_code`]);
    await sql(`ALTER TABLE ${f.q('items')} DROP CONSTRAINT items_invoice_fk`);
    await sql(`DROP INDEX ${f.q('items_country_code')}; DROP INDEX ${f.q('items_position')};
      ALTER TABLE ${f.q('items')} ADD CONSTRAINT items_invoice_id_fkey FOREIGN KEY (invoice_id) REFERENCES ${f.q('invoices')} (id)`);
  });

  it('view-bypasses-rls: one finding per view, naming every scoped table it reads; none with security_invoker', async () => {
    const m = f.manifest();
    await sql(`CREATE VIEW ${f.q('invoice_lines')} AS SELECT i.id, l.position FROM ${f.q('invoices')} i JOIN ${f.q('items')} l ON l.invoice_id = i.id;
      GRANT SELECT ON ${f.q('invoice_lines')} TO ${ident(f.app)}`);
    const found = await check(db().url, m, 'view-bypasses-rls');
    expect(found.map((x) => [x.severity, x.table, x.object])).toEqual([['error', `${f.schema}.invoices`, `${f.schema}.invoice_lines`]]);
    expect(found[0].message).toContain(`over ${f.schema}.invoices, ${f.schema}.items is readable by ${f.app}`);
    expect(found[0].samples).toEqual([`${f.schema}.invoices`, `${f.schema}.items`]);
    await sql(`ALTER VIEW ${f.q('invoice_lines')} SET (security_invoker = true)`);
    expect(await brief(db().url, m, 'view-bypasses-rls')).toEqual([]);
  });
});

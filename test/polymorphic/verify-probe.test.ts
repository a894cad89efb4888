// verify's polymorphic-reference probe, two-sided: without an enforcing trigger a row of tenant A can
// point through a pair at tenant B's row (fail); with one it is rejected (pass); rows it needs are made
// in its rolled-back transaction, and nothing it did remains.
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../src/config/manifest.js';
import { ident } from '../../src/db/quote.js';
import { loadSampleSaas } from '../../src/sample/sample-saas.js';
import { verifyIsolation, type VerifyResult } from '../../src/verify/verify.js';
import { tableChecksums } from '../backfill/helpers.js';
import { useTestDatabase } from '../support/database.js';
import { ENFORCING_TRIGGER_SETUP, saasManifest } from './helpers.js';

const secure = (table: string, column: string, setting: string, type: string, app: string) => `
  ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY; ALTER TABLE ${table} FORCE ROW LEVEL SECURITY;
  CREATE POLICY tenant_isolation ON ${table} FOR ALL TO ${ident(app)}
    USING (${column} = (SELECT nullif(current_setting('${setting}', true), '')::${type}))
    WITH CHECK (${column} = (SELECT nullif(current_setting('${setting}', true), '')::${type}));
  GRANT SELECT, INSERT, UPDATE, DELETE ON ${table} TO ${ident(app)};`;

const polymorphic = (result: VerifyResult) =>
  result.probes.filter((p) => p.probe === 'polymorphic-reference').map((p) => ({ role: p.role, table: p.table, status: p.status, detail: p.detail }));

describe('verify: polymorphic-reference', () => {
  const db = useTestDatabase();
  const sql = (text: string) => db().client.query(text);

  it('fails while no trigger enforces a pair (existing rows, and an empty table whose rows it makes); passes with one', async () => {
    const app = await db().createRole('poly_app');
    await sql(`CREATE SCHEMA pv; GRANT USAGE ON SCHEMA pv TO ${ident(app)};
      CREATE TABLE pv.tenants (id integer PRIMARY KEY);
      INSERT INTO pv.tenants VALUES (1), (2);
      CREATE TABLE pv.invoices (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), tenant_id integer NOT NULL REFERENCES pv.tenants);
      INSERT INTO pv.invoices (tenant_id) VALUES (1), (2), (2);
      CREATE TABLE pv.payments (id serial PRIMARY KEY, tenant_id integer NOT NULL REFERENCES pv.tenants, payable_type text NOT NULL, payable_id text NOT NULL);
      INSERT INTO pv.payments (tenant_id, payable_type, payable_id) SELECT tenant_id, 'Invoice', id::text FROM pv.invoices;
      CREATE TABLE pv.notes (id bigserial PRIMARY KEY, tenant_id integer NOT NULL REFERENCES pv.tenants, record_type text NOT NULL, record_id integer NOT NULL, body text NOT NULL);
      ${secure('pv.tenants', 'id', 'app.tenant', 'integer', app)}
      ${secure('pv.invoices', 'tenant_id', 'app.tenant', 'integer', app)}
      ${secure('pv.payments', 'tenant_id', 'app.tenant', 'integer', app)}
      ${secure('pv.notes', 'tenant_id', 'app.tenant', 'integer', app)}
      -- Append-only history: the role may insert but not update, so the probe inserts.
      CREATE TABLE pv.trail (id uuid PRIMARY KEY, tenant_id integer NOT NULL REFERENCES pv.tenants, item_type text NOT NULL, item_id text NOT NULL);
      INSERT INTO pv.trail SELECT gen_random_uuid(), tenant_id, 'Invoice', id::text FROM pv.invoices;
      ${secure('pv.trail', 'tenant_id', 'app.tenant', 'integer', app)}
      REVOKE UPDATE, DELETE ON pv.trail FROM ${ident(app)};`);
    const manifest = parseManifest({
      schema: 'pv',
      tenant: { table: 'tenants', key: 'id', column: 'tenant_id', setting: 'app.tenant' },
      roles: { app: [app] },
      tables: {
        invoices: null,
        payments: { polymorphic: [{ type: 'payable_type', id: 'payable_id', targets: { Invoice: 'invoices' } }] },
        notes: { polymorphic: [{ type: 'record_type', id: 'record_id', targets: { Tenant: 'tenants' } }] },
        trail: { polymorphic: [{ type: 'item_type', id: 'item_id', targets: { Invoice: 'invoices' } }] },
      },
    });
    const before = await tableChecksums(db().client, 'pv');

    const open = await verifyIsolation({ databaseUrl: db().url, manifest });
    expect(polymorphic(open).map((p) => [p.table, p.status])).toEqual([
      ['payments (payable_type/payable_id)', 'fail'],
      ['notes (record_type/record_id)', 'fail'],
      ['trail (item_type/item_id)', 'fail'],
    ]);
    expect(polymorphic(open)[0].detail).toMatch(/a row of tenant \d pointing at tenant \d's invoices row \(type 'Invoice'\) was accepted/);
    expect(open.ok).toBe(false);
    expect(open.failures).toContainEqual(expect.objectContaining({ probe: 'polymorphic-reference', table: 'payments (payable_type/payable_id)' }));
    expect(await tableChecksums(db().client, 'pv')).toEqual(before);

    await sql(ENFORCING_TRIGGER_SETUP('pv', 'payments', 'tenant_id', 'payable_type', 'payable_id', [['Invoice', 'invoices']]));
    await sql(ENFORCING_TRIGGER_SETUP('pv', 'notes', 'tenant_id', 'record_type', 'record_id', [['Tenant', 'tenants', 'id']]));
    await sql(ENFORCING_TRIGGER_SETUP('pv', 'trail', 'tenant_id', 'item_type', 'item_id', [['Invoice', 'invoices']]));
    const closed = await verifyIsolation({ databaseUrl: db().url, manifest });
    expect(polymorphic(closed)).toEqual([
      { role: app, table: 'payments (payable_type/payable_id)', status: 'pass', detail: "a row pointing at another tenant's invoices row is rejected" },
      { role: app, table: 'notes (record_type/record_id)', status: 'pass', detail: "a row pointing at another tenant's tenants row is rejected" },
      { role: app, table: 'trail (item_type/item_id)', status: 'pass', detail: "a row pointing at another tenant's invoices row is rejected" },
    ]);
    expect(closed.failures).toEqual([]);
    expect(await tableChecksums(db().client, 'pv')).toEqual(before);
  });

  it('on the SaaS fixture: a payment of A pointed at an invoice of B is accepted, then rejected by the trigger (also as a plain insert)', async () => {
    await loadSampleSaas(db().client, { scale: 1, modules: 0, schema: 'saas' });
    const app = await db().createRole('saas_app');
    const setting = 'app.current_organization_id';
    await sql(`GRANT USAGE ON SCHEMA saas TO ${ident(app)};
      ${secure('saas.organizations', 'id', setting, 'uuid', app)}
      ${['customers', 'invoices', 'payment_requests', 'payments'].map((t) => secure(`saas.${t}`, 'organization_id', setting, 'uuid', app)).join('\n')}`);
    const full = saasManifest('saas', app);
    const manifest = { ...full, tables: full.tables.filter((t) => ['customers', 'invoices', 'payment_requests', 'payments'].includes(t.name)) };
    const open = await verifyIsolation({ databaseUrl: db().url, manifest });
    expect(polymorphic(open).map((p) => [p.table, p.status])).toEqual([['payments (payable_type/payable_id)', 'fail']]);

    await sql(ENFORCING_TRIGGER_SETUP('saas', 'payments', 'organization_id', 'payable_type', 'payable_id', [
      ['Invoice', 'invoices'],
      ['PaymentRequest', 'payment_requests'],
    ]));
    const closed = await verifyIsolation({ databaseUrl: db().url, manifest });
    expect(polymorphic(closed).map((p) => [p.table, p.status])).toEqual([['payments (payable_type/payable_id)', 'pass']]);

    // The done-when bullet, by hand: as the app role with A set, an insert pointing at B's invoice is rejected.
    const { rows } = await sql(`SELECT (SELECT id FROM saas.organizations ORDER BY id LIMIT 1) AS a,
      (SELECT i.id FROM saas.invoices i WHERE i.organization_id <> (SELECT id FROM saas.organizations ORDER BY id LIMIT 1) LIMIT 1) AS inv`);
    const { a, inv } = rows[0] as { a: string; inv: string };
    const c = await db().connect();
    await c.query('BEGIN');
    await c.query(`SET LOCAL ROLE ${ident(app)}`);
    await c.query(`SELECT set_config($1, $2, true)`, [setting, a]);
    await expect(
      c.query(`INSERT INTO saas.payments (id, organization_id, payable_type, payable_id, amount_cents) VALUES (gen_random_uuid(), $1, 'Invoice', $2, 1)`, [a, inv]),
    ).rejects.toMatchObject({ code: '23503' });
    await c.query('ROLLBACK');
  });
});

// cross-tenant-reference over polymorphic pairs, two-sided: cross-tenant targets and type values
// naming no target are found (counts, samples), fixed rows are not, and an enforcing trigger proves a pair.
import { describe, expect, it } from 'vitest';
import { runAudit } from '../../src/audit/runner.js';
import type { AuditResult } from '../../src/audit/types.js';
import { parseManifest, type Manifest } from '../../src/config/manifest.js';
import { loadSampleSaas } from '../../src/sample/sample-saas.js';
import { useTestDatabase } from '../support/database.js';
import { ENFORCING_TRIGGER_SETUP, saasManifest } from './helpers.js';

const I1 = '00000000-0000-4000-8000-0000000000a1';
const I2 = '00000000-0000-4000-8000-0000000000b2';

const manifest = (schema = 'pm'): Manifest =>
  parseManifest({
    schema,
    tenant: { table: 'tenants', key: 'id', column: 'tenant_id', setting: 'app.tenant' },
    roles: { app: ['crm_app_never_created'] },
    tables: {
      invoices: null,
      requests: null,
      payments: { polymorphic: [{ type: 'payable_type', id: 'payable_id', targets: { Invoice: 'invoices', Request: 'requests', Tenant: 'tenants' } }] },
    },
  });

const view = (result: AuditResult) =>
  result.findings
    .map((f) => ({ object: f.object, count: f.count, samples: [...f.samples].sort(), message: f.message }))
    .sort((a, b) => String(a.object).localeCompare(String(b.object)));

describe('cross-tenant-reference: polymorphic pairs', () => {
  const db = useTestDatabase();
  const sql = (text: string) => db().client.query(text);
  const audit = (m: Manifest, deep = false) => runAudit({ databaseUrl: db().url, manifest: m, only: ['cross-tenant-reference'], concurrency: 2, deep });

  it('finds rows whose target has another tenant (uuid and bigint keys through a text id) and types naming no target; fixed, nothing', async () => {
    await sql(`CREATE SCHEMA pm;
      CREATE TABLE pm.tenants (id integer PRIMARY KEY);
      INSERT INTO pm.tenants VALUES (1), (2);
      CREATE TABLE pm.invoices (id uuid PRIMARY KEY, tenant_id integer NOT NULL REFERENCES pm.tenants);
      INSERT INTO pm.invoices VALUES ('${I1}', 1), ('${I2}', 2);
      CREATE TABLE pm.requests (id bigint PRIMARY KEY, tenant_id integer NOT NULL REFERENCES pm.tenants);
      INSERT INTO pm.requests VALUES (7, 1), (9223372036854775807, 2);
      CREATE TABLE pm.payments (id integer PRIMARY KEY, tenant_id integer NOT NULL REFERENCES pm.tenants, payable_type text, payable_id text);
      INSERT INTO pm.payments VALUES
        (1, 1, 'Invoice', '${I1}'),                 -- fine
        (2, 1, 'Invoice', '${I2}'),                 -- tenant 2's invoice
        (3, 1, 'Request', '7'),                     -- fine
        (4, 1, 'Request', '9223372036854775807'),   -- tenant 2's request
        (5, 1, 'Invoice', 'not-a-uuid'),            -- no such invoice: no error, no finding
        (6, 1, 'Request', '99999999999999999999'),  -- out of bigint range: no error, no finding
        (7, 1, 'Request', '007'),                   -- not the text of any key
        (8, 2, 'Refund', 'r-1'),                    -- names no target
        (9, 2, 'Refund', 'r-2'),
        (10, 2, NULL, NULL),                        -- no reference at all
        (11, 1, 'Tenant', '2'),                     -- points at the other tenant itself
        (12, 2, 'Tenant', '2')`);
    const found = view(await audit(manifest()));
    expect(found.map(({ message, ...f }) => f)).toEqual([
      { object: 'payable_type', count: 2, samples: [8, 9] },
      { object: 'payable_type/payable_id → invoices', count: 1, samples: [2] },
      { object: 'payable_type/payable_id → requests', count: 1, samples: [4] },
      { object: 'payable_type/payable_id → tenants', count: 1, samples: [11] },
    ]);
    expect(found[0].message).toBe(
      "2 rows of pm.payments point through payable_type/payable_id at nothing: type 'Refund' names no target (targets: Invoice, Request, Tenant)",
    );
    expect(found[1].message).toBe("1 row of pm.payments points through payable_type/payable_id (type 'Invoice') at a invoices row of another tenant");

    await sql(`UPDATE pm.payments SET payable_id = '${I1}' WHERE id = 2;
      UPDATE pm.payments SET payable_id = '7' WHERE id = 4;
      UPDATE pm.payments SET payable_id = '1' WHERE id = 11;
      UPDATE pm.payments SET payable_type = 'Invoice', payable_id = '${I2}' WHERE id IN (8, 9)`);
    const clean = await audit(manifest());
    expect(view(clean)).toEqual([]);
    expect(clean.proofs.filter((p) => p.table === 'payments')).toEqual([
      { check: 'cross-tenant-reference', table: 'payments', object: 'payable_type/payable_id', status: 'scanned' },
      { check: 'cross-tenant-reference', table: 'payments', object: 'payable_type (types)', status: 'scanned' },
    ]);
  });

  it('a pair is proven only by its enabled enforcing trigger; --deep and a disabled trigger scan', async () => {
    await sql(`CREATE SCHEMA pt;
      CREATE TABLE pt.tenants (id integer PRIMARY KEY);
      INSERT INTO pt.tenants VALUES (1), (2);
      CREATE TABLE pt.invoices (id uuid PRIMARY KEY, tenant_id integer NOT NULL);
      INSERT INTO pt.invoices VALUES ('${I1}', 1), ('${I2}', 2);
      CREATE TABLE pt.requests (id bigint PRIMARY KEY, tenant_id integer NOT NULL);
      CREATE TABLE pt.payments (id integer PRIMARY KEY, tenant_id integer NOT NULL, payable_type text, payable_id text);
      INSERT INTO pt.payments VALUES (1, 1, 'Invoice', '${I2}'), (2, 1, 'Refund', 'r-1')`);
    await sql(ENFORCING_TRIGGER_SETUP('pt', 'payments', 'tenant_id', 'payable_type', 'payable_id', [['Invoice', 'invoices']]));
    // The trigger works (23503) ...
    await expect(sql(`INSERT INTO pt.payments VALUES (3, 1, 'Invoice', '${I2}')`)).rejects.toMatchObject({ code: '23503' });
    await expect(sql(`INSERT INTO pt.payments VALUES (3, 1, 'Refund', 'r-2')`)).rejects.toMatchObject({ code: '23503' });
    // ... but the rows written before it stay: the proof hides them, --deep finds them.
    const proven = await audit(manifest('pt'));
    expect(view(proven)).toEqual([]);
    const proof = 'enforced by trigger payments_payable_type_payable_id_tenant_trigger';
    expect(proven.proofs.filter((p) => p.table === 'payments')).toEqual([
      { check: 'cross-tenant-reference', table: 'payments', object: 'payable_type/payable_id', status: 'proven', proof },
      { check: 'cross-tenant-reference', table: 'payments', object: 'payable_type (types)', status: 'proven', proof },
    ]);
    expect(proven.dataChecks.find((d) => d.check === 'cross-tenant-reference')).toMatchObject({ status: 'proven', proven: 2, scanned: 0 });
    const deep = await audit(manifest('pt'), true);
    expect(view(deep).map((f) => [f.object, f.count])).toEqual([
      ['payable_type', 1],
      ['payable_type/payable_id → invoices', 1],
    ]);
    expect(deep.proofs.filter((p) => p.table === 'payments').map((p) => p.status)).toEqual(['scanned', 'scanned']);

    await sql(`ALTER TABLE pt.payments DISABLE TRIGGER payments_payable_type_payable_id_tenant_trigger`);
    const disabled = await audit(manifest('pt'));
    expect(view(disabled).map((f) => [f.object, f.count])).toEqual([
      ['payable_type', 1],
      ['payable_type/payable_id → invoices', 1],
    ]);
  });

  it('on the SaaS fixture: the payment of A for an invoice of C and the Refund; versions without a tenant column get the type check', async () => {
    await loadSampleSaas(db().client, { scale: 2, modules: 0, schema: 'saas' });
    const found = view(await audit(saasManifest('saas'))).filter((f) => String(f.object).includes('_type'));
    expect(found.map((f) => [f.object, f.count])).toEqual([
      ['payable_type', 2],
      ['payable_type/payable_id → invoices', 2],
    ]);
    expect(found[0].message).toContain("type 'Refund' names no target");
    await sql(`INSERT INTO saas.versions (item_type, item_id, event) VALUES ('Widget', '1', 'create')`);
    const widened = view(await audit(saasManifest('saas')));
    expect(widened.map((f) => [f.object, f.count])).toEqual(expect.arrayContaining([['item_type', 1]]));
    // Fixed: the cross payment points at its own tenant's invoice, the refund and the widget go.
    await sql(`UPDATE saas.payments p SET payable_id = (SELECT i.id FROM saas.invoices i WHERE i.organization_id = p.organization_id LIMIT 1)
                WHERE p.payable_type = 'Invoice' AND (SELECT organization_id FROM saas.invoices WHERE id = p.payable_id) <> p.organization_id;
               DELETE FROM saas.payments WHERE payable_type = 'Refund';
               DELETE FROM saas.versions WHERE item_type = 'Widget'`);
    expect(view(await audit(saasManifest('saas'))).filter((f) => String(f.object).includes('_type'))).toEqual([]);
  });
});

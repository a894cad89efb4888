// audit --since on the SaaS fixture: uuid keys and tenants, polymorphic pairs, partial unique keys (soft deletes), shared rows, a partitioned table.
import { describe, expect, it } from 'vitest';
import { runAudit } from '../../src/audit/runner.js';
import type { PreviousAudit } from '../../src/audit/incremental/types.js';
import { parseManifestText } from '../../src/config/manifest.js';
import { loadSampleSaas, saasManifestText } from '../../src/sample/sample-saas.js';
import { useTestDatabase } from '../support/database.js';
import { asPrevious, DATA_CHECKS, modes, view } from './fixture.js';

describe('audit --since on the SaaS fixture', () => {
  const db = useTestDatabase();

  it('a customer moved to another organization, one rewritten as it was, a cross-organization line item and payment: the same findings as a full audit, the clean answers read only changed rows', async () => {
    await loadSampleSaas(db().client, { modules: 0 });
    const app = await db().createRole('saas_since_app');
    const manifest = parseManifestText(await saasManifestText({ appRole: app, modules: 0 }));
    const run = (since?: PreviousAudit) => runAudit({ databaseUrl: db().url, manifest, only: DATA_CHECKS, since });
    const first = await run();
    const sql = (text: string) => db().client.query(text);
    // Two customers with projects, of one organization; another organization.
    const { rows } = await sql(`SELECT c.id, c.organization_id AS org, (SELECT o.id FROM organizations o WHERE o.id <> c.organization_id ORDER BY o.id LIMIT 1) AS other,
        (SELECT count(*)::int FROM projects p WHERE p.customer_id = c.id AND p.organization_id = c.organization_id) AS projects
      FROM customers c WHERE EXISTS (SELECT 1 FROM projects p WHERE p.customer_id = c.id) ORDER BY c.id LIMIT 2`);
    const [moved, kept] = rows;
    expect(moved.projects).toBeGreaterThan(0);
    await sql(`UPDATE customers SET organization_id = '${moved.other}' WHERE id = '${moved.id}'`);
    await sql(`UPDATE customers SET organization_id = organization_id WHERE id = '${kept.id}'`);
    // A payment of an invoice of another organization (the polymorphic pair), and a rewritten one.
    await sql(`UPDATE payments p SET payable_id = (SELECT i.id FROM invoices i WHERE i.organization_id <> p.organization_id ORDER BY i.id LIMIT 1)
      WHERE p.id = (SELECT id FROM payments WHERE payable_type = 'Invoice' ORDER BY id LIMIT 1)`);
    await sql(`UPDATE payments SET amount_cents = amount_cents WHERE id = (SELECT id FROM payments ORDER BY id DESC LIMIT 1)`);
    const since = await run(asPrevious(first));
    const full = await run();
    expect(view(since)).toEqual(view(full));
    const before = new Map(first.findings.map((f) => [`${f.check} ${f.table} ${f.object}`, f.count]));
    const grown = full.findings.filter((f) => (before.get(`${f.check} ${f.table} ${f.object}`) ?? 0) < (f.count ?? 0)).map((f) => `${f.check} ${f.table} ${f.object}`);
    // The moved customer's projects (found from the parent side: no project changed) and the payment.
    expect(grown).toEqual(expect.arrayContaining(['cross-tenant-reference public.projects projects_customer_id_fkey', 'cross-tenant-reference public.payments payable_type/payable_id → invoices']));
    expect(since.incremental!.tables.find((t) => t.table === 'public.projects')).toMatchObject({ changedRows: 0 });
    // Answers clean before stay incremental where no finding appeared (the tenant table's rows unchanged).
    expect(Object.values(modes(since)).filter((m) => m === 'incremental').length).toBeGreaterThan(5);
  });
});

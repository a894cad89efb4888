// The new #13.4 checks on the SaaS fixture: exempt tables that hold tenant data, and the data_imports row naming no organization; two-sided.
import { beforeAll, describe, expect, it } from 'vitest';
import { runAudit } from '../../src/audit/runner.js';
import { parseManifest, type Manifest } from '../../src/config/manifest.js';
import { ident } from '../../src/db/quote.js';
import { loadSampleSaas } from '../../src/sample/sample-saas.js';
import { useTestDatabase } from '../support/database.js';

describe('exempt-table-holds-tenant-data and unknown-tenant on the SaaS fixture', () => {
  const db = useTestDatabase();
  let app: string;
  const manifest = (exempt: Record<string, string>, tables: Record<string, null>): Manifest =>
    parseManifest({
      tenant: { table: 'organizations', key: 'id', column: 'organization_id', setting: 'app.current_organization_id' },
      roles: { app: [app] },
      tables,
      exempt,
    });
  const audit = (m: Manifest, id: string) => runAudit({ client: db().client, manifest: m, only: [id] });

  beforeAll(async () => {
    await loadSampleSaas(db().client, { modules: 0 });
    app = await db().createRole('saas_app');
    await db().client.query(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${ident(app)}`);
  });

  it('exempting the change history, the attachments, the roles and the audit log is reported, each with its reason; the lookups are not', async () => {
    const m = manifest(
      {
        versions: 'gem-managed history',
        active_storage_attachments: 'files live in S3',
        roles: 'roles are global',
        audit_logs: 'system-wide log',
        plans: 'price list',
        countries: 'ISO list',
      },
      { invoices: null, payments: null },
    );
    const found = (await audit(m, 'exempt-table-holds-tenant-data')).findings;
    expect(found.map((f) => [f.table, f.samples])).toEqual([
      ['public.active_storage_attachments', ['has the polymorphic pair record_type/record_id']],
      ['public.audit_logs', ['has the tenant column organization_id', 'references organizations']],
      ['public.roles', ['has the tenant column organization_id', 'references organizations']],
      ['public.versions', ['has the polymorphic pair item_type/item_id']],
    ]);
    expect(found.find((f) => f.table === 'public.versions')!.message).toContain('(exempt: "gem-managed history")');
    // Scoped instead (or no longer readable by the application): silent.
    await db().client.query(`REVOKE SELECT ON versions, active_storage_attachments FROM ${ident(app)}`);
    const fixed = manifest({ versions: 'gem-managed history', active_storage_attachments: 'files live in S3', plans: 'price list' }, { roles: null, audit_logs: null });
    expect((await audit(fixed, 'exempt-table-holds-tenant-data')).findings).toEqual([]);
  });

  it('unknown-tenant finds the data_imports row that names no organization; the scoped tables with a validated key are proven', async () => {
    const m = manifest({}, { data_imports: null, invoices: null });
    const result = await audit(m, 'unknown-tenant');
    expect(result.findings.map((f) => [f.table, f.count])).toEqual([['public.data_imports', 1]]);
    expect(result.proofs.map((p) => [p.table, p.status])).toEqual([
      ['data_imports', 'scanned'],
      ['invoices', 'proven'],
    ]);
    await db().client.query(`DELETE FROM data_imports d WHERE NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = d.organization_id)`);
    expect((await audit(m, 'unknown-tenant')).findings).toEqual([]);
  });
});

// init on the SaaS fixture: shared rows (with evidence), partial and singleton keys, polymorphic pairs (proven
// ones as entries, the others as TODOs), composite FK paths,
// and no backfill list where the tenant column is already NOT NULL.
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { draftManifest, renderDraft, type ScopedProposal } from '../../src/init/draft-manifest.js';
import { loadSampleSaas } from '../../src/sample/sample-saas.js';
import { useTestDatabase } from '../support/database.js';

describe('init on the SaaS fixture', () => {
  const db = useTestDatabase();

  it('drafts what the schema already says', async () => {
    await loadSampleSaas(db().client, { modules: 4 });
    const draft = await draftManifest(db().client);
    expect(draft).toMatchObject({ tenantTable: 'organizations', tenantColumn: 'organization_id', tenantType: 'uuid' });
    const text = renderDraft(draft);
    const yaml = parse(text);
    const scoped = (name: string) => draft.tables.find((t) => t.name === name)!.classification as ScopedProposal;

    // Predefined rows with a NULL tenant, that no source places: shared rows, with the count.
    expect(yaml.tables.roles.shared_rows).toBe(true);
    expect(yaml.tables.notification_templates.shared_rows).toBe(true);
    expect(scoped('roles').nullRows).toBe(4);
    expect(scoped('notification_templates').nullRows).toBe(3);
    expect(text).toMatch(/shared_rows: true {3}# 4 row\(s\) with NULL organization_id/);
    // Not where the NULL tenants have a parent to come from (projects through customer_id).
    expect(yaml.tables.projects.shared_rows).toBeUndefined();
    expect(yaml.tables.projects.backfill).toEqual(['customer_id']);

    // Keys from the existing indexes: partial ones in the object form, UNIQUE (tenant) as singleton.
    expect(yaml.tables.teams.unique).toEqual([{ columns: ['name'], where: 'deleted_at IS NULL' }]);
    expect(yaml.tables.customers.unique).toEqual([{ columns: ['email'], where: 'deleted_at IS NULL' }]);
    expect(yaml.tables.organization_settings.singleton).toBe(true);

    // Polymorphic pairs the data proves: real entries, with how they were inferred.
    expect(yaml.tables.versions.polymorphic).toEqual([{ type: 'item_type', id: 'item_id', targets: { Customer: 'customers', Invoice: 'invoices' } }]);
    expect(yaml.tables.active_storage_attachments.polymorphic).toEqual([{ type: 'record_type', id: 'record_id', targets: { Invoice: 'invoices' } }]);
    expect(yaml.tables.custom_field_values).toEqual({
      backfill: ['custom_field_id'],
      polymorphic: [{ type: 'record_type', id: 'record_id', targets: { Customer: 'customers' } }],
    });
    expect(text).toMatch(
      /- \{type: item_type, id: item_id, targets: \{Customer: customers, Invoice: invoices\}\} {3}# inferred: every item_type value names a table \(Rails class → table \(Customer → customers, Invoice → invoices\)\) and all 28 item_id value\(s\) are rows of it/,
    );
    expect(scoped('versions').why).toBe('reaches organizations through the polymorphic pair item_type/item_id → customers, invoices');
    expect(yaml.exempt.versions).toBeUndefined();
    // One the data does not prove ('Refund' names no table): a TODO comment with the ready entry.
    expect(yaml.tables.payments).toBeNull();
    expect(text).toContain('# polymorphic: [{type: payable_type, id: payable_id, targets: {Invoice: invoices, PaymentRequest: payment_requests}}]');
    expect(text).toMatch(/# TODO: payable_type\/payable_id look like a polymorphic reference \(type values seen: Invoice, PaymentRequest, Refund\); not proposed: no table for Refund/);
    // The log line of nobody: not shared by guess (nothing says so), an orphan to place.
    expect(scoped('audit_logs')).toMatchObject({ sharedRows: false, orphans: true, nullRows: 1 });
    expect(yaml.tables.audit_logs).toBeNull();
    expect(scoped('roles').sharedEvidence).toEqual(['CHECK roles_check names organization_id IS NULL', 'rows of 3 tenants in memberships reference them (role_id)']);

    // No backfill list for any table whose tenant column is NOT NULL already.
    const notNull = draft.tables.filter((t) => t.classification.kind === 'scoped' && t.classification.tenantNotNull);
    expect(notNull.length).toBeGreaterThan(15);
    for (const t of notNull) expect(yaml.tables[t.name]?.backfill, t.name).toBeUndefined();
    // Where it is missing, the list is short and ranked: nearest parent first.
    expect(yaml.tables.line_item_taxes.backfill).toEqual(['line_item_id']);
    expect(scoped('comments').sources.every((s) => s.hops === 2)).toBe(true);
    // Its comment names the best source (task_id), not whichever FK the catalog listed first.
    expect(scoped('comments').why).toBe('reaches organizations through task_id → tasks');
    expect(yaml.tenant.composite_keys).toBe(true);
    expect(draft.compositeForeignKeys).toBeGreaterThan(10);
  });
});

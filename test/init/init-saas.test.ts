// init on the SaaS fixture: shared rows, partial and singleton keys, polymorphic TODOs, composite FK paths,
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

    // Polymorphic pairs: TODO comments with a ready entry, targets from the type values present.
    expect(text).toContain('# polymorphic: [{type: payable_type, id: payable_id, targets: {Invoice: invoices, PaymentRequest: payment_requests}}]');
    expect(text).toMatch(/# TODO: payable_type\/payable_id look like a polymorphic reference \(type values seen: Invoice, PaymentRequest, Refund; no table for Refund\)/);
    for (const [table, pair] of [
      ['payments', 'payable_type'],
      ['versions', 'item_type'],
      ['active_storage_attachments', 'record_type'],
      ['custom_field_values', 'record_type'],
    ]) {
      const c = draft.tables.find((t) => t.name === table)!.classification as { polymorphic: { typeColumn: string }[] };
      expect(c.polymorphic.map((p) => p.typeColumn), table).toEqual([pair]);
    }
    expect(text).toContain('  # versions:');
    expect(text).toMatch(/ {2}# {3}polymorphic: \[\{type: item_type, id: item_id, targets: \{[^}]*Invoice: invoices/);

    // No backfill list for any table whose tenant column is NOT NULL already.
    const notNull = draft.tables.filter((t) => t.classification.kind === 'scoped' && t.classification.tenantNotNull);
    expect(notNull.length).toBeGreaterThan(15);
    for (const t of notNull) expect(yaml.tables[t.name]?.backfill, t.name).toBeUndefined();
    // Where it is missing, the list is short and ranked: nearest parent first.
    expect(yaml.tables.line_item_taxes.backfill).toEqual(['line_item_id']);
    expect(scoped('comments').sources.every((s) => s.hops === 2)).toBe(true);
    expect(yaml.tenant.composite_keys).toBe(true);
    expect(draft.compositeForeignKeys).toBeGreaterThan(10);
  });
});

import { describe, expect, it } from 'vitest';
import { loadManifest } from '../../src/config/manifest.js';
import { resolveLiveContext } from '../../src/config/live-context.js';
import { readOverview } from '../../src/demo/overview.js';
import { ROWS_PER_SCALE, FIXED_ROWS } from '../../src/sample/sample-crm.js';
import { useTestDatabase } from '../support/database.js';

describe('the sample CRM (the report state)', () => {
  const db = useTestDatabase({ sample: true });

  it("has the report's numbers and its real defects", async () => {
    const manifest = await loadManifest('tenancy.yaml');
    const overview = await readOverview(db().client, manifest);
    const byName = Object.fromEntries(overview.tables.map((t) => [t.table, t]));
    expect(overview.tenants.map((t) => t.label)).toEqual(['nadan', 'Sunstone']);
    expect(byName.users.perTenant).toEqual({ 1: 5, 2: 8 });
    expect(byName.contacts.perTenant).toEqual({ 1: 26, 2: 13 });
    expect(byName.deals.perTenant).toEqual({ 1: 4, 2: 96 });
    expect(byName.workflows.rows).toBe(31);
    expect(byName.pipelines.rows).toBe(2);
    expect(byName.pipeline_stages.rows).toBe(37);
    expect(byName.workflow_executions.rows).toBe(48);
    expect(byName.quotes.rows).toBe(24);
    expect(byName.files.rows).toBe(52);
    expect(byName.phone_numbers.rows).toBe(4);
    expect(byName.phone_numbers.nullTenants).toBe(1);
    expect(byName.sms_messages.rows).toBe(2);
    expect(byName.calls.rows).toBe(1);
    expect(byName.twilio_settings.rows).toBe(3);
    expect(byName.twilio_settings.nullTenants).toBe(1);
    expect(byName.twilio_settings.perTenant).toEqual({ 1: 2 }); // the duplicate
    expect(overview.tables.filter((t) => !t.hasTenantColumn).map((t) => t.table).sort()).toEqual([
      'email_campaigns',
      'performance_alerts',
      'user_conversations',
    ]);
  });

  it('has cross-company references the report never measured', async () => {
    const { rows } = await db().client.query(`
      SELECT 'deals' AS t, count(*)::int AS n FROM deals d JOIN contacts c ON c.id = d.contact_id WHERE d.company_id <> c.company_id
      UNION ALL SELECT 'activities', count(*)::int FROM activities a JOIN contacts c ON c.id = a.contact_id WHERE a.company_id <> c.company_id
      UNION ALL SELECT 'quotes', count(*)::int FROM quotes q JOIN deals d ON d.id = q.deal_id WHERE q.company_id <> d.company_id`);
    expect(rows).toEqual([
      { t: 'deals', n: 2 },
      { t: 'activities', n: 1 },
      { t: 'quotes', n: 1 },
    ]);
  });

  it('matches the repository manifest (tenant key, backfill foreign keys)', async () => {
    const manifest = await loadManifest('tenancy.yaml');
    const live = await resolveLiveContext(db().client, manifest);
    expect(live.tenantType).toBe('integer');
  });

  it('counts the rows it claims to load', async () => {
    const { rows } = await db().client.query<{ n: string }>(
      `SELECT sum((xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I', relname), false, true, '')))[1]::text::int) AS n
         FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'`,
    );
    expect(Number(rows[0].n)).toBe(ROWS_PER_SCALE + FIXED_ROWS);
  });
});

describe('the sample CRM at scale', () => {
  const db = useTestDatabase({ sample: { scale: 3, schema: 'crm "scaled"' } });

  it('is N consistent copies with the same defects in every block', async () => {
    const c = db().client;
    const { rows } = await c.query(`
      SELECT (SELECT count(*)::int FROM "crm ""scaled""".companies) AS companies,
             (SELECT count(*)::int FROM "crm ""scaled""".deals) AS deals,
             (SELECT count(*)::int FROM "crm ""scaled""".phone_numbers WHERE company_id IS NULL) AS null_phones,
             (SELECT count(*)::int FROM "crm ""scaled""".deals d JOIN "crm ""scaled""".pipelines p ON p.id = d.pipeline_id
               WHERE p.company_id <> d.company_id) AS pipeline_mismatch`);
    expect(rows[0]).toEqual({ companies: 6, deals: 300, null_phones: 3, pipeline_mismatch: 0 });
  });
});

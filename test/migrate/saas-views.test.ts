// generate's views phase on the SaaS fixture: definer views over scoped tables get security_invoker
// (PostgreSQL 15+, else a revoke), materialized views are revoked from the app roles unless exempt.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolveLiveContext, type LiveContext } from '../../src/config/live-context.js';
import { parseManifest, type Manifest } from '../../src/config/manifest.js';
import { readPlanExtras } from '../../src/migrate/plan-extras.js';
import { readExposedViews, viewSteps } from '../../src/migrate/plan-views.js';
import { planTenancy } from '../../src/migrate/plan.js';
import { renderMigrations } from '../../src/migrate/render.js';
import { renderView } from '../../src/migrate/render-views.js';
import { loadSampleSaas } from '../../src/sample/sample-saas.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { useTempDirs } from './support.js';

describe('generate: views over scoped tables', () => {
  const db = useTestDatabase();
  const tempDir = useTempDirs();
  let app: string;
  const raw = (exempt?: Record<string, string>) => ({
    schema: 'public',
    tenant: { table: 'organizations', key: 'id', column: 'organization_id', setting: 'app.org' },
    roles: { app: [app] },
    tables: { customers: {}, invoices: {}, payments: {} },
    ...(exempt ? { exempt } : {}),
  });
  const live = async (m: Manifest): Promise<LiveContext> => resolveLiveContext(db().client, m);
  /** What the app role sees with organization A set: distinct tenants through a view, or the error. */
  const asApp = async (sql: string) => {
    const c = await db().connect(db().urlFor(app));
    try {
      await c.query(`SELECT set_config('app.org', md5('org-0-1'), false)`);
      return (await c.query(sql)).rows[0].n as number;
    } catch (error) {
      return (error as Error).message;
    } finally {
      await c.end();
    }
  };

  beforeAll(async () => {
    await loadSampleSaas(db().client, { modules: 0 });
    app = await db().createRole('app');
    const c = db().client;
    await c.query(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${app}`);
    for (const t of ['customers', 'invoices', 'payments']) {
      await c.query(`ALTER TABLE ${t} ENABLE ROW LEVEL SECURITY;
        CREATE POLICY tenant ON ${t} TO ${app} USING (organization_id = nullif(current_setting('app.org', true), '')::uuid)`);
    }
  }, 60_000);

  it('finds the views an app role reads over scoped tables (not report_plan_prices, not over unscoped tasks)', async () => {
    const views = await readExposedViews(db().client, await live(parseManifest(raw())));
    expect(views.map((v) => [v.name, v.materialized, v.readers, v.grantees])).toEqual([
      ['monthly_revenue', true, [app], [app]],
      ['report_active_customers', false, [app], [app]],
      ['report_invoice_totals', false, [app], [app]],
      ['report_payments', false, [app], [app]],
    ]);
    // An exempt materialized view is left alone.
    const exempt = await live(parseManifest(raw({ monthly_revenue: 'refreshed nightly for the finance team; read by finance only' })));
    expect(viewSteps(exempt, views).map((s) => s.table)).toEqual(['report_active_customers', 'report_invoice_totals', 'report_payments']);
    // Before PostgreSQL 15 there is no security_invoker: the plain views are revoked too, with the reason.
    const old = { ...exempt, catalog: { ...exempt.catalog, serverVersion: 140000 } };
    const step = viewSteps(old, views).find((s) => s.table === 'report_payments')!;
    expect(step.fix).toBe('revoke');
    const sql = renderView(step).up.join('\n');
    expect(sql).toContain(`REVOKE SELECT ON "public"."report_payments" FROM "${app}";`);
    expect(sql).toMatch(/older than PostgreSQL 15 \(no security_invoker\)/);
    expect(renderView(step).down.join('\n')).toContain(`GRANT SELECT ON "public"."report_payments" TO "${app}";`);
  });

  it('the views file closes the leak as the app role sees it; after migrate nothing is left', async () => {
    expect(await asApp(`SELECT count(DISTINCT organization_id)::int AS n FROM report_active_customers`)).toBe(3);
    expect(await asApp(`SELECT count(DISTINCT organization_id)::int AS n FROM monthly_revenue`)).toBe(3);
    expect(await asApp(`SELECT count(DISTINCT organization_id)::int AS n FROM customers`)).toBe(1);

    const manifest = parseManifest(raw());
    const l = await live(manifest);
    const plan = planTenancy(l, new Set(), await readPlanExtras(db().client, l));
    const files = renderMigrations(l, plan.steps, { firstIndex: 1 });
    const views = files.find((f) => f.phase === 'views')!;
    expect(files.at(-1)).toBe(views);
    expect(views.fileName).toMatch(/^\d{4}_tenancy-views\.sql$/);
    expect(views.text).toContain('ALTER VIEW "public"."report_active_customers" SET (security_invoker = true);');
    expect(views.text).toContain(`REVOKE SELECT ON "public"."monthly_revenue" FROM "${app}";`);
    expect(views.text).toMatch(/-- public\.monthly_revenue: a materialized view stores every tenant's rows/);
    const dir = await tempDir();
    for (const f of files) await writeFile(path.join(dir, f.fileName), f.text);
    const config = path.join(dir, 'tenancy.json.yaml');
    await writeFile(config, JSON.stringify(raw()));
    const r = await runCli(['migrate', '--config', config, '--database-url', db().url, '--migrations-dir', dir]);
    expect(r.code, r.stderr).toBe(0);

    expect(await asApp(`SELECT count(DISTINCT organization_id)::int AS n FROM report_active_customers`)).toBe(1);
    expect(await asApp(`SELECT count(DISTINCT organization_id)::int AS n FROM report_invoice_totals`)).toBe(1);
    expect(await asApp(`SELECT count(*)::int AS n FROM monthly_revenue`)).toMatch(/permission denied/);
    // A view over tables nobody scoped is not touched.
    expect(await asApp(`SELECT count(*)::int AS n FROM report_plan_prices`)).toBe(3);
    const again = await live(manifest);
    expect(planTenancy(again, new Set(), await readPlanExtras(db().client, again)).steps.filter((s) => s.kind === 'view')).toEqual([]);

    // Down gives the grants back and resets the option.
    const down = await runCli(['migrate', 'down', '--config', config, '--database-url', db().url, '--migrations-dir', dir]);
    expect(down.code, down.stderr).toBe(0);
    expect(await asApp(`SELECT count(DISTINCT organization_id)::int AS n FROM monthly_revenue`)).toBe(3);
    expect(await asApp(`SELECT count(DISTINCT organization_id)::int AS n FROM report_active_customers`)).toBe(3);
  });
});

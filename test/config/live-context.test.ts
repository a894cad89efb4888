// The manifest against the live database (config/live-context.ts): accepted, every mismatch listed, exit 2.
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../../src/config/manifest.js';
import { liveProblems, resolveLiveContext } from '../../src/config/live-context.js';
import { readCatalog, findRelation } from '../../src/db/catalog.js';
import { useTestDatabase } from '../support/database.js';

const manifestFor = (tables: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  parseManifest({
    tenant: { table: 'companies', key: 'id', column: 'company_id', setting: 'app.current_company_id' },
    roles: { app: ['crm_app'] },
    tables,
    ...extra,
  });

describe('the manifest against the live database', () => {
  const db = useTestDatabase({ sample: true });

  it('accepts the sample CRM and infers the tenant type', async () => {
    const live = await resolveLiveContext(db().client, manifestFor({ deals: { backfill: ['contact_id'] } }));
    expect(live.tenantType).toBe('integer');
  });

  it('lists every mismatch: tenant table/key, non-FK backfill columns, unknown unique columns', async () => {
    const catalog = await readCatalog(db().client, ['public']);
    expect(findRelation(catalog, 'public', 'deals')?.primaryKey).toEqual(['id']);
    const problems = liveProblems(
      manifestFor({ deals: { backfill: ['title', 'nope'], unique: [['ghost']] }, missing_table: {} }, { state_schema: 'public' }),
      catalog,
    );
    expect(problems).toEqual([
      'state_schema: must differ from schema (public); the toolkit keeps its own state apart',
      'tables.deals.backfill[0]: public.deals.title is not a foreign key',
      'tables.deals.backfill[1]: column nope does not exist in public.deals',
      'tables.deals.unique[0]: column ghost does not exist in public.deals',
    ]);
    const noTenant = liveProblems(
      parseManifest({
        tenant: { table: 'orgs', key: 'id', column: 'org_id', setting: 'app.org' },
        roles: { app: ['a'] },
        tables: { deals: {} },
      }),
      catalog,
    );
    expect(noTenant).toEqual(['tenant.table: table public.orgs does not exist']);
    const notUnique = liveProblems(
      parseManifest({ tenant: { table: 'deals', key: 'title', column: 'x', setting: 'app.x' }, roles: { app: ['a'] }, tables: { contacts: {} } }),
      catalog,
    );
    expect(notUnique[0]).toMatch(/neither the primary key nor UNIQUE/);
  });

  it('rejects a schema that does not exist with exit code 2', async () => {
    await expect(resolveLiveContext(db().client, manifestFor({ deals: {} }, { schema: 'nope' }))).rejects.toMatchObject({
      code: 'manifest-live',
      exitCode: 2,
    });
  });
});

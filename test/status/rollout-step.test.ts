// The pure placement rules of `status`: each step planted alone gives its step and next command; the database-wide next.
import { describe, expect, it } from 'vitest';
import { command, databaseNext, placeTable, shellWord, type TableFacts } from '../../src/status/rollout-step.js';

const done: TableFacts = {
  table: 'deals',
  kind: 'scoped',
  exists: true,
  column: true,
  fk: true,
  index: true,
  nullTenants: 0,
  fkValidated: true,
  notNull: true,
  uniqueKeys: null,
  compositeKeys: true,
  rlsEnabled: true,
  rlsForced: true,
  policyFile: true,
  policyPending: false,
  policyDrifted: false,
  backfillSources: true,
};
const none = { expand: false, validate: false, composite: false };
const all = { expand: true, validate: true, composite: true };
const place = (f: Partial<TableFacts>, pending = all) => placeTable({ ...done, ...f }, pending, 'company_id');

describe('placeTable', () => {
  it('a table with every fact in place is done, with no next command', () => {
    expect(place({})).toEqual({ step: 'done', detail: '', next: null });
  });

  it('each missing fact alone puts the table at its step, with the command that fixes it', () => {
    expect(place({ exists: false })).toMatchObject({ step: 'missing-table', next: null });
    expect(place({ column: false, nullTenants: null })).toMatchObject({ step: 'column', next: 'crm-tenancy migrate' });
    expect(place({ column: false }, none)).toMatchObject({ step: 'column', next: 'crm-tenancy generate' });
    expect(place({ index: false })).toMatchObject({ step: 'column', detail: 'no index on company_id' });
    expect(place({ fk: false })).toMatchObject({ step: 'column', detail: 'no tenant foreign key' });
    expect(place({ nullTenants: 7, notNull: false })).toEqual({
      step: 'backfill',
      detail: '7 row(s) with NULL company_id',
      next: 'crm-tenancy backfill --table deals',
    });
    expect(place({ nullTenants: 7, notNull: false, backfillSources: false }).detail).toMatch(/lists no backfill column/);
    expect(place({ notNull: false })).toMatchObject({ step: 'validate', detail: 'company_id nullable', next: 'crm-tenancy migrate' });
    expect(place({ fkValidated: false }, none)).toMatchObject({ step: 'validate', next: 'crm-tenancy generate' });
    expect(place({ uniqueKeys: false })).toMatchObject({ step: 'validate', detail: 'per-tenant unique keys missing' });
    expect(place({ compositeKeys: false })).toMatchObject({ step: 'composite', next: 'crm-tenancy migrate' });
    expect(place({ compositeKeys: null })).toMatchObject({ step: 'done' }); // composite_keys: false, or not needed
    expect(place({ rlsForced: false })).toMatchObject({ step: 'rls', next: 'crm-tenancy policies apply' });
    expect(place({ rlsEnabled: false, policyFile: false })).toMatchObject({ step: 'rls', next: 'crm-tenancy generate' });
    expect(place({ policyDrifted: true })).toMatchObject({ step: 'policy', detail: expect.stringMatching(/^policy drifted/), next: 'crm-tenancy policies apply' });
    expect(place({ policyPending: true })).toMatchObject({ step: 'policy', detail: expect.stringMatching(/changed since it was applied/) });
    expect(place({ policyFile: false })).toMatchObject({ step: 'policy', next: 'crm-tenancy generate' });
  });

  it('the earliest missing step wins', () => {
    expect(place({ nullTenants: 3, notNull: false, fkValidated: false, rlsEnabled: false, policyDrifted: true }).step).toBe('backfill');
  });

  it('the tenant table only goes through RLS and policy', () => {
    const tenant: TableFacts = { ...done, table: 'companies', kind: 'tenant', column: null, fk: null, index: null, nullTenants: null, fkValidated: null, notNull: null };
    expect(placeTable(tenant, none, 'company_id').step).toBe('done');
    expect(placeTable({ ...tenant, rlsEnabled: false }, none, 'company_id').step).toBe('rls');
  });
});

describe('next commands', () => {
  it('repeat non-default paths and quote what a shell would split', () => {
    expect(command('backfill', ['--table', 'deals'], { config: 'conf/tenancy.yaml' })).toBe('crm-tenancy backfill --table deals --config conf/tenancy.yaml');
    expect(command('migrate', [], { migrationsDir: 'db/m', policiesDir: 'db/p' })).toBe('crm-tenancy migrate --migrations-dir db/m');
    expect(command('generate', [], { migrationsDir: 'db/m', policiesDir: 'db/p' })).toBe('crm-tenancy generate --migrations-dir db/m --policies-dir db/p');
    expect(command('policies apply', [], { migrationsDir: 'db/m', policiesDir: 'my policies' })).toBe("crm-tenancy policies apply --policies-dir 'my policies'");
    expect(shellWord(`it's; rm -rf /`)).toBe(`'it'\\''s; rm -rf /'`);
    expect(command('backfill', ['--table', 'Deals "2024"'], {})).toBe(`crm-tenancy backfill --table 'Deals "2024"'`);
  });

  it('for the database: the earliest step decides; several backfills are one command; generate before migrate', () => {
    const at = (table: string, f: Partial<TableFacts>, pending = all) => ({ table, ...place({ ...f, table }, pending) });
    expect(databaseNext([at('a', {}), at('b', { policyDrifted: true })])).toBe('crm-tenancy policies apply');
    expect(databaseNext([at('a', { nullTenants: 1, notNull: false }), at('b', { policyDrifted: true })])).toBe('crm-tenancy backfill --table a');
    expect(databaseNext([at('a', { nullTenants: 1, notNull: false }), at('b', { nullTenants: 2, notNull: false })])).toBe('crm-tenancy backfill');
    expect(databaseNext([at('a', { column: false }), at('b', { column: false }, none)])).toBe('crm-tenancy generate');
    expect(databaseNext([at('a', { exists: false }), at('b', {})])).toBe(null);
    expect(databaseNext([at('a', {})])).toBe(null);
  });
});

import { describe, expect, it } from 'vitest';
import { parseManifest, parseManifestText, loadManifest, manifestProblems } from '../../src/config/manifest.js';
import { TenancyError } from '../../src/errors.js';

const valid = {
  tenant: { table: 'companies', key: 'id', column: 'company_id', setting: 'app.current_company_id' },
  roles: { app: ['crm_app'], bypass: { crm_support: 'support console, read-only' } },
  tables: { contacts: {}, deals: { backfill: ['contact_id', 'pipeline_id'] }, users: { unique: [['email']] }, twilio_settings: { singleton: true } },
  exempt: { audit_logs: 'system-wide security log' },
};

describe('manifest', () => {
  it('normalises the documented shape with defaults', () => {
    const m = parseManifest(valid);
    expect(m.schema).toBe('public');
    expect(m.stateSchema).toBe('crm_tenancy');
    expect(m.tenant.compositeKeys).toBe(false);
    expect(m.tables.map((t) => t.name)).toEqual(['contacts', 'deals', 'users', 'twilio_settings']);
    expect(m.tables[1].backfill).toEqual(['contact_id', 'pipeline_id']);
    expect(m.tables[3].singleton).toBe(true);
    expect(m.roles.bypass).toEqual([{ role: 'crm_support', reason: 'support console, read-only' }]);
    expect(m.exempt).toEqual([{ name: 'audit_logs', reason: 'system-wide security log' }]);
  });

  it('accepts a table with no settings written as null (`contacts:`)', () => {
    const m = parseManifestText(
      'tenant: {table: t, key: id, column: t_id, setting: app.t}\nroles: {app: [a]}\ntables:\n  contacts:\n',
    );
    expect(m.tables).toEqual([{ name: 'contacts', backfill: [], unique: [], singleton: false }]);
  });

  it('lists every problem at once, each with its path', () => {
    const problems = manifestProblems({
      schema: 42,
      tenant: { table: 'companies', key: 'id', column: 'company_id', setting: 'no_dot', colour: 'x' },
      roles: { app: [] },
      tables: { deals: { backfill: 'contact_id', singelton: true }, audit_logs: {} },
      exempt: { audit_logs: '', sessions: null },
      extra: 1,
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'schema: Invalid input: expected string, received number',
        'tenant.colour: unknown key',
        expect.stringMatching(/^tenant\.setting: must be a custom setting name/),
        'roles.app: list at least one application role',
        expect.stringMatching(/^tables\.deals\.backfill: /),
        'tables.deals.singelton: unknown key',
        expect.stringMatching(/^exempt\.audit_logs: needs a reason/),
        expect.stringMatching(/^exempt\.sessions: needs a reason/),
        'extra: unknown key',
        'tables.audit_logs: listed both as scoped and under exempt',
      ]),
    );
    expect(problems.length).toBeGreaterThanOrEqual(10);
  });

  it('rejects an empty table list (no false all-clear) and TODO reasons', () => {
    const problems = manifestProblems({ ...valid, tables: {}, exempt: { x: 'TODO: reason' } });
    expect(problems).toContainEqual(expect.stringMatching(/^tables: no scoped tables/));
    expect(problems).toContainEqual(expect.stringMatching(/^exempt\.x: needs a reason/));
  });

  it('rejects identifiers PostgreSQL would truncate', () => {
    const problems = manifestProblems({ ...valid, tables: { ['t'.repeat(64)]: {} } });
    expect(problems).toContainEqual(expect.stringMatching(/identifier is 64 bytes long/));
  });

  it('reports YAML syntax errors with line numbers, and duplicate keys', () => {
    try {
      parseManifestText('tenant:\n  table: a\n  table: b\n');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(TenancyError);
      expect((error as TenancyError).problems.join('\n')).toMatch(/line 3/);
    }
  });

  it('names a missing file and suggests init', async () => {
    await expect(loadManifest('/nonexistent/tenancy.yaml')).rejects.toMatchObject({
      code: 'manifest',
      message: 'manifest /nonexistent/tenancy.yaml not found',
      exitCode: 2,
    });
  });

  it('the repository manifest (the sample CRM) is valid', async () => {
    const m = await loadManifest('tenancy.yaml');
    expect(m.tables).toHaveLength(27);
    expect(m.tenant.compositeKeys).toBe(true);
  });
});

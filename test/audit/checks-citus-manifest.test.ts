// The manifest keys of distribution citus: distribution, tenant.reference, exempt tables as {reason, reference}.
import { describe, expect, it } from 'vitest';
import { manifestProblems, parseManifest } from '../../src/config/manifest.js';
import { citusTables } from '../../src/citus/citus-tables.js';

const base = {
  tenant: { table: 'companies', key: 'id', column: 'company_id', setting: 'app.current_company_id' },
  roles: { app: ['crm_app'] },
  tables: { users: null, deals: null },
};

describe('manifest: distribution citus', () => {
  it('reads distribution, reference lookups and the tenant table default (distributed by its key)', () => {
    const m = parseManifest({ ...base, distribution: 'citus', exempt: { roles: { reason: 'global catalogue', reference: true }, sessions: 'by token' } });
    expect(m.distribution).toBe('citus');
    expect(m.exempt).toEqual([
      { name: 'roles', reason: 'global catalogue', reference: true },
      { name: 'sessions', reason: 'by token' },
    ]);
    expect(citusTables(m)).toEqual({ distributed: ['companies', 'users', 'deals'], reference: ['roles'] });
    const ref = parseManifest({ ...base, tenant: { ...base.tenant, reference: true } });
    expect(ref.distribution).toBeUndefined();
    expect(citusTables(ref)).toEqual({ distributed: ['users', 'deals'], reference: ['companies'] });
  });

  it('reports a bad value with its path', () => {
    expect(manifestProblems({ ...base, distribution: 'vitess', exempt: { roles: { reason: '', reference: true, extra: 1 }, sessions: 3 } })).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^distribution: /),
        expect.stringMatching(/^exempt\.roles\.reason: needs a reason/),
        expect.stringMatching(/^exempt\.roles\.extra: unknown key/),
        expect.stringMatching(/^exempt\.sessions: needs a reason/),
      ]),
    );
  });
});

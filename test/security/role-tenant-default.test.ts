// Issue #12, hole 8: a role- or database-level default for the tenant setting (applied at login, invisible to SET ROLE).
import { describe, expect, it } from 'vitest';
import { ident } from '../../src/db/quote.js';
import { expectBothPass, useRollout } from './rollout.js';

describe('hole 8: a default tenant for the application role or the database', () => {
  const rollout = useRollout();

  it('ALTER ROLE … IN DATABASE … SET: audit and verify (tenant-setting-default) fail; RESET: both pass', async () => {
    const r = rollout();
    const dbName = ident(r.db.name);
    await r.sql(`ALTER ROLE ${ident(r.app)} IN DATABASE ${dbName} SET app.current_company_id = '1'`);
    // The hole is real: a login as the application role that sets no tenant reads tenant 1's deals.
    const login = await r.db.connect(r.db.urlFor(r.app));
    try {
      const seen = await login.query<{ n: number }>('SELECT count(DISTINCT company_id)::int AS n FROM public.deals');
      expect(seen.rows[0].n).toBe(1);
    } finally {
      await login.end();
    }

    const audit = await r.audit();
    expect.soft(audit.code).toBe(1);
    expect.soft(audit.findings).toContainEqual(
      expect.objectContaining({ check: 'tenant-setting-default', severity: 'error', object: `${r.app} in database ${r.db.name}` }),
    );
    const verify = await r.verify();
    expect.soft(verify.code).toBe(1);
    expect.soft(verify.probes).toContain('tenant-setting-default');

    await r.sql(`ALTER ROLE ${ident(r.app)} IN DATABASE ${dbName} RESET app.current_company_id`);
    await expectBothPass(r, 'tenant-setting-default', 'tenant-setting-default');
  });

  it('ALTER DATABASE … SET: audit and verify (tenant-setting-default) fail; RESET: both pass', async () => {
    const r = rollout();
    const dbName = ident(r.db.name);
    await r.sql(`ALTER DATABASE ${dbName} SET app.current_company_id = '1'`);
    try {
      const audit = await r.audit();
      expect.soft(audit.code).toBe(1);
      expect.soft(audit.findings).toContainEqual(
        expect.objectContaining({ check: 'tenant-setting-default', severity: 'error', object: `database ${r.db.name}` }),
      );
      const verify = await r.verify();
      expect.soft(verify.code).toBe(1);
      expect.soft(verify.probes).toContain('tenant-setting-default');
    } finally {
      await r.sql(`ALTER DATABASE ${dbName} RESET app.current_company_id`);
    }
    await expectBothPass(r, 'tenant-setting-default', 'tenant-setting-default');
  });
});

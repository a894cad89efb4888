// Issue #12, hole 2: GRANT TRUNCATE to the application role — TRUNCATE ignores row-level security.
import { describe, expect, it } from 'vitest';
import { ident } from '../../src/db/quote.js';
import { expectBothPass, useRollout } from './rollout.js';

describe('hole 2: TRUNCATE granted to the application role', () => {
  const rollout = useRollout();

  it('audit (app-role-table-privilege) and verify (truncate) fail while it is granted; both pass once revoked', async () => {
    const r = rollout();
    await r.sql(`GRANT TRUNCATE ON public.activities TO ${ident(r.app)}`);
    // The hole is real: tenant 2's session empties every tenant's activities.
    expect(await r.asApp('2', 'TRUNCATE public.activities')).not.toHaveProperty('error');

    const audit = await r.audit();
    expect.soft(audit.code).toBe(1);
    expect.soft(audit.findings).toContainEqual(
      expect.objectContaining({ check: 'app-role-table-privilege', severity: 'error', table: 'public.activities', object: r.app }),
    );
    const verify = await r.verify();
    expect.soft(verify.code).toBe(1);
    expect.soft(verify.failures).toContainEqual(expect.objectContaining({ probe: 'truncate', table: 'activities', role: r.app }));

    await r.sql(`REVOKE TRUNCATE ON public.activities FROM ${ident(r.app)}`);
    expect(await r.asApp('2', 'TRUNCATE public.activities')).toEqual({ error: '42501' });
    await expectBothPass(r, 'app-role-table-privilege', 'truncate');
  });
});

// Issue #12, hole 12: a permissive FOR UPDATE … WITH CHECK (true) policy lets a tenant move its rows to another tenant.
import { describe, expect, it } from 'vitest';
import { ident } from '../../src/db/quote.js';
import { expectBothPass, useRollout } from './rollout.js';

describe('hole 12: FOR UPDATE … WITH CHECK (true)', () => {
  const rollout = useRollout();

  it('audit (permissive-policy-bypass) and verify (update-to-other-tenant) fail; both pass once the policy is dropped', async () => {
    const r = rollout();
    await r.sql(`CREATE POLICY move_rows ON public.notifications AS PERMISSIVE FOR UPDATE TO ${ident(r.app)}
                   USING (company_id = (SELECT nullif(current_setting('app.current_company_id', true), '')::integer)) WITH CHECK (true)`);
    // The hole is real: tenant 2 hands all its notifications to tenant 1 (nothing references them).
    const own = (await r.sql(`SELECT count(*)::int AS n FROM public.notifications WHERE company_id = 2`)).rows[0].n as number;
    expect(own).toBeGreaterThan(0);
    expect(await r.asApp('2', 'UPDATE public.notifications SET company_id = 1, user_id = NULL')).toMatchObject({ rowCount: own });

    const audit = await r.audit();
    expect.soft(audit.code).toBe(1);
    expect.soft(audit.findings).toContainEqual(
      expect.objectContaining({ check: 'permissive-policy-bypass', severity: 'error', table: 'public.notifications', object: 'move_rows' }),
    );
    const verify = await r.verify();
    expect.soft(verify.code).toBe(1);
    expect.soft(verify.failures).toContainEqual(expect.objectContaining({ probe: 'update-to-other-tenant', table: 'notifications', role: r.app }));

    await r.sql(`DROP POLICY move_rows ON public.notifications`);
    await expectBothPass(r, 'permissive-policy-bypass', 'update-to-other-tenant');
  });
});

// Issue #12, hole 13: FOR INSERT … WITH CHECK (true) on an empty table, where verify used to skip its write probes.
import { describe, expect, it } from 'vitest';
import { ident } from '../../src/db/quote.js';
import { expectBothPass, useRollout } from './rollout.js';

describe('hole 13: FOR INSERT WITH CHECK (true) on an empty table', () => {
  const rollout = useRollout();

  it('audit (permissive-policy-bypass) and verify (insert-other-tenant) fail; both pass once the policy is dropped', async () => {
    const r = rollout();
    // notifications: nothing references it; empty, there is no row to copy for an insert probe.
    await r.sql(`DELETE FROM public.notifications`);
    await r.sql(`CREATE POLICY open_insert ON public.notifications AS PERMISSIVE FOR INSERT TO ${ident(r.app)} WITH CHECK (true)`);
    // The hole is real: tenant 2 writes a notification into tenant 1.
    const user1 = (await r.sql(`SELECT min(id) AS id FROM public.users WHERE company_id = 1`)).rows[0].id as number;
    const planted = await r.asApp('2', `INSERT INTO public.notifications (company_id, user_id, type, message) VALUES (1, ${Number(user1)}, 'x', 'x')`);
    expect(planted).toMatchObject({ rowCount: 1 });

    const audit = await r.audit();
    expect.soft(audit.code).toBe(1);
    expect.soft(audit.findings).toContainEqual(
      expect.objectContaining({ check: 'permissive-policy-bypass', severity: 'error', table: 'public.notifications', object: 'open_insert' }),
    );
    const verify = await r.verify();
    expect.soft(verify.code).toBe(1);
    expect.soft(verify.failures).toContainEqual(expect.objectContaining({ probe: 'insert-other-tenant', table: 'notifications', role: r.app }));

    await r.sql(`DROP POLICY open_insert ON public.notifications`);
    await expectBothPass(r, 'permissive-policy-bypass', 'insert-other-tenant');
  });
});

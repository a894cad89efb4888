// Issue #12, hole 4: a SECURITY DEFINER function with dynamic SQL, executable by the application role.
import { describe, expect, it } from 'vitest';
import { useRollout, expectBothPass } from './rollout.js';

describe('hole 4: SECURITY DEFINER function with dynamic SQL', () => {
  const rollout = useRollout();

  it('audit (security-definer-function) and verify (definer-function) fail while the app role can call it; both pass once revoked', async () => {
    const r = rollout();
    await r.sql(`CREATE FUNCTION public.table_count(t text) RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER AS $$
                   DECLARE n bigint;
                   BEGIN EXECUTE format('select count(*) from public.%I', t) INTO n; RETURN n; END $$`);
    // The hole is real: tenant 2's session counts every tenant's deals.
    const own = await r.asApp('2', 'SELECT count(*)::int AS n FROM public.deals');
    const all = await r.asApp('2', `SELECT public.table_count('deals')::int AS n`);
    const total = (await r.sql('SELECT count(*)::int AS n FROM public.deals')).rows[0].n as number;
    expect(all).toMatchObject({ rows: [{ n: total }] });
    expect(own).not.toMatchObject({ rows: [{ n: total }] });

    const audit = await r.audit();
    expect.soft(audit.code).toBe(1);
    expect.soft(audit.findings).toContainEqual(
      expect.objectContaining({ check: 'security-definer-function', severity: 'error', object: 'public.table_count(text)' }),
    );
    const verify = await r.verify();
    expect.soft(verify.code).toBe(1);
    expect.soft(verify.failures).toContainEqual(expect.objectContaining({ probe: 'definer-function', table: expect.stringMatching(/(^|\.)table_count\(text\)$/), role: r.app }));

    await r.sql(`REVOKE EXECUTE ON FUNCTION public.table_count(text) FROM PUBLIC`);
    expect(await r.asApp('2', `SELECT public.table_count('deals')`)).toEqual({ error: '42501' });
    await expectBothPass(r, 'security-definer-function', 'definer-function');
  });
});

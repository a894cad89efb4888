// Issue #12, hole 14: SET ROLE to a superuser (GRANT postgres TO the app role), and a security_invoker view over a definer function.
import { describe, expect, it } from 'vitest';
import { ident } from '../../src/db/quote.js';
import { expectBothPass, useRollout } from './rollout.js';

describe('hole 14: membership in a superuser role; an invoker view over a definer function', () => {
  const rollout = useRollout();

  it('GRANT <superuser> TO the app role: audit (app-role-bypasses-rls) and verify (role-membership) fail; revoked: both pass', async () => {
    const r = rollout();
    await r.sql(`GRANT ${ident(r.superuser)} TO ${ident(r.app)}`);
    // The hole is real: one SET ROLE and every tenant's deals.
    expect(await r.asApp('2', `SET ROLE ${ident(r.superuser)}; SELECT count(DISTINCT company_id)::int AS n FROM public.deals`)).toMatchObject({ rows: [{ n: 2 }] });

    const audit = await r.audit();
    expect.soft(audit.code).toBe(1);
    expect.soft(audit.findings).toContainEqual(
      expect.objectContaining({ check: 'app-role-bypasses-rls', severity: 'error', table: null, object: r.app }),
    );
    const verify = await r.verify();
    expect.soft(verify.code).toBe(1);
    expect.soft(verify.failures).toContainEqual(expect.objectContaining({ probe: 'role-membership', role: r.app }));

    await r.sql(`REVOKE ${ident(r.superuser)} FROM ${ident(r.app)}`);
    await expectBothPass(r, 'app-role-bypasses-rls', 'role-membership');
  });

  it('a security_invoker view over a SECURITY DEFINER function: audit (security-definer-function) and verify (definer-function) fail; invoker: both pass', async () => {
    const r = rollout();
    await r.sql(`CREATE FUNCTION public.deal_rows() RETURNS SETOF public.deals LANGUAGE sql STABLE SECURITY DEFINER
                   SET search_path = pg_catalog, pg_temp AS 'SELECT * FROM public.deals';
                 CREATE VIEW public.deal_list WITH (security_invoker = true) AS SELECT id, company_id, title FROM public.deal_rows();
                 GRANT SELECT ON public.deal_list TO ${ident(r.app)}`);
    expect(await r.asApp('2', 'SELECT count(DISTINCT company_id)::int AS n FROM public.deal_list')).toMatchObject({ rows: [{ n: 2 }] });

    const audit = await r.audit();
    expect.soft(audit.code).toBe(1);
    expect.soft(audit.findings).toContainEqual(
      expect.objectContaining({ check: 'security-definer-function', severity: 'error', table: 'public.deals', object: 'public.deal_rows()' }),
    );
    const verify = await r.verify();
    expect.soft(verify.code).toBe(1);
    expect.soft(verify.failures).toContainEqual(expect.objectContaining({ probe: 'definer-function', table: expect.stringMatching(/(^|\.)deal_rows\(\)$/), role: r.app }));

    await r.sql(`ALTER FUNCTION public.deal_rows() SECURITY INVOKER`);
    expect(await r.asApp('2', 'SELECT count(DISTINCT company_id)::int AS n FROM public.deal_list')).toMatchObject({ rows: [{ n: 1 }] });
    await expectBothPass(r, 'security-definer-function', 'definer-function');
  });
});

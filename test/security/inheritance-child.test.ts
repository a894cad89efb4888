// Issue #12, hole 9: an inheritance child of a scoped table, readable by the application role, without row-level security.
import { describe, expect, it } from 'vitest';
import { ident } from '../../src/db/quote.js';
import { expectBothPass, useRollout } from './rollout.js';

describe('hole 9: CREATE TABLE deals_old () INHERITS (deals)', () => {
  const rollout = useRollout();

  it('audit (inheritance-child) and verify (unprotected-table) fail while the app role can read it; both pass once detached and revoked', async () => {
    const r = rollout();
    await r.sql(`CREATE TABLE public.deals_old () INHERITS (public.deals);
                 INSERT INTO public.deals_old SELECT * FROM ONLY public.deals WHERE id IN (
                   (SELECT min(id) FROM public.deals WHERE company_id = 1), (SELECT min(id) FROM public.deals WHERE company_id = 2));
                 GRANT SELECT ON public.deals_old TO ${ident(r.app)}`);
    // The hole is real: by its own name, the child shows both tenants' rows.
    expect(await r.asApp('2', 'SELECT count(DISTINCT company_id)::int AS n FROM public.deals_old')).toMatchObject({ rows: [{ n: 2 }] });

    const audit = await r.audit();
    expect.soft(audit.code).toBe(1);
    expect.soft(audit.findings).toContainEqual(
      expect.objectContaining({ check: 'inheritance-child', severity: 'error', table: 'public.deals', object: 'public.deals_old' }),
    );
    const verify = await r.verify();
    expect.soft(verify.code).toBe(1);
    expect.soft(verify.failures).toContainEqual(expect.objectContaining({ probe: 'unprotected-table', role: r.app }));

    // An old copy: detached from deals and out of the application's reach.
    await r.sql(`ALTER TABLE public.deals_old NO INHERIT public.deals; REVOKE ALL ON public.deals_old FROM ${ident(r.app)}`);
    await expectBothPass(r, 'inheritance-child', 'unprotected-table');
  });
});

// Issue #12, hole 3: the application role owns a scoped table — it can turn row-level security off.
import { describe, expect, it } from 'vitest';
import { ident } from '../../src/db/quote.js';
import { expectBothPass, useRollout } from './rollout.js';

describe('hole 3: ALTER TABLE deals OWNER TO the application role', () => {
  const rollout = useRollout();

  it('audit (app-role-owns-table) and verify (alter-table) fail while it owns deals; both pass once given back', async () => {
    const r = rollout();
    const app = ident(r.app);
    await r.sql(`ALTER TABLE public.deals OWNER TO ${app}`);
    // The hole is real: the owner lifts FORCE and reads every tenant's deals.
    const leak = await r.asApp('2', `ALTER TABLE public.deals NO FORCE ROW LEVEL SECURITY; SELECT count(DISTINCT company_id)::int AS n FROM public.deals`);
    expect(leak).toMatchObject({ rows: [{ n: 2 }] });

    const audit = await r.audit();
    expect.soft(audit.code).toBe(1);
    expect.soft(audit.findings).toContainEqual(
      expect.objectContaining({ check: 'app-role-owns-table', severity: 'error', table: 'public.deals', object: r.app }),
    );
    const verify = await r.verify();
    expect.soft(verify.code).toBe(1);
    expect.soft(verify.failures).toContainEqual(expect.objectContaining({ probe: 'alter-table', table: 'deals', role: r.app }));

    // Given back to the migration owner. Changing owners moves the old owner's ACL entries, the
    // application's grants merged into them: grant them again, as the policy file does.
    const seq = (await r.sql(`SELECT pg_get_serial_sequence('public.deals', 'id') AS s`)).rows[0].s as string;
    await r.sql(`ALTER TABLE public.deals OWNER TO ${ident(r.superuser)};
                 GRANT SELECT, INSERT, UPDATE, DELETE ON public.deals TO ${app};
                 GRANT USAGE ON SEQUENCE ${seq} TO ${app}`);
    expect(await r.asApp('2', 'ALTER TABLE public.deals NO FORCE ROW LEVEL SECURITY')).toEqual({ error: '42501' });
    await expectBothPass(r, 'app-role-owns-table', 'alter-table');
  });
});

// Issue #12, hole 5: a SECURITY DEFINER function in another schema returning SETOF a scoped table.
import { describe, expect, it } from 'vitest';
import { ident } from '../../src/db/quote.js';
import { expectBothPass, useRollout } from './rollout.js';

describe('hole 5: SECURITY DEFINER function in another schema', () => {
  const rollout = useRollout();

  it('audit (security-definer-function, an error) and verify (definer-function) fail; both pass once it is SECURITY INVOKER', async () => {
    const r = rollout();
    // Pinned search_path and schema-qualified: the old audit only warned about it (exit 0).
    await r.sql(`CREATE SCHEMA reporting; GRANT USAGE ON SCHEMA reporting TO ${ident(r.app)};
                 CREATE FUNCTION reporting.all_deals() RETURNS SETOF public.deals LANGUAGE sql STABLE SECURITY DEFINER
                   SET search_path = pg_catalog, pg_temp AS 'SELECT * FROM public.deals'`);
    const leak = await r.asApp('2', 'SELECT count(DISTINCT company_id)::int AS n FROM reporting.all_deals()');
    expect(leak).toMatchObject({ rows: [{ n: 2 }] });

    const audit = await r.audit();
    expect.soft(audit.code).toBe(1);
    expect.soft(audit.findings).toContainEqual(
      expect.objectContaining({ check: 'security-definer-function', severity: 'error', table: 'public.deals', object: 'reporting.all_deals()' }),
    );
    const verify = await r.verify();
    expect.soft(verify.code).toBe(1);
    expect.soft(verify.failures).toContainEqual(expect.objectContaining({ probe: 'definer-function', table: expect.stringMatching(/(^|\.)all_deals\(\)$/), role: r.app }));

    await r.sql(`ALTER FUNCTION reporting.all_deals() SECURITY INVOKER`);
    expect(await r.asApp('2', 'SELECT count(DISTINCT company_id)::int AS n FROM reporting.all_deals()')).toMatchObject({ rows: [{ n: 1 }] });
    await expectBothPass(r, 'security-definer-function', 'definer-function');
  });
});

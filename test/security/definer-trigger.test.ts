// Issue #12, hole 6: a SECURITY DEFINER trigger copying rows into an untracked table the application role can read.
import { describe, expect, it } from 'vitest';
import { ident } from '../../src/db/quote.js';
import { expectBothPass, useRollout } from './rollout.js';

describe('hole 6: SECURITY DEFINER trigger on a scoped table', () => {
  const rollout = useRollout();

  it('audit (security-definer-function) and verify (definer-function) fail while the trigger fires; both pass once it is gone', async () => {
    const r = rollout();
    await r.sql(`CREATE TABLE public.deal_feed (deal_id integer, company_id integer, title text);
                 GRANT SELECT ON public.deal_feed TO ${ident(r.app)};
                 CREATE FUNCTION public.feed_deal() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
                   SET search_path = pg_catalog, pg_temp AS $$
                   BEGIN INSERT INTO public.deal_feed VALUES (NEW.id, NEW.company_id, NEW.title); RETURN NEW; END $$;
                 CREATE TRIGGER feed_deal AFTER INSERT OR UPDATE ON public.deals FOR EACH ROW EXECUTE FUNCTION public.feed_deal()`);
    // The hole is real: tenant 1's writes land where tenant 2 reads them.
    await r.sql(`UPDATE public.deals SET title = title WHERE company_id = 1`);
    expect(await r.asApp('2', 'SELECT count(*)::int AS n FROM public.deal_feed WHERE company_id = 1')).not.toMatchObject({ rows: [{ n: 0 }] });

    const audit = await r.audit();
    expect.soft(audit.code).toBe(1);
    expect.soft(audit.findings).toContainEqual(
      expect.objectContaining({
        check: 'security-definer-function',
        severity: 'error',
        table: 'public.deals',
        object: 'public.feed_deal() on public.deals',
      }),
    );
    const verify = await r.verify();
    expect.soft(verify.code).toBe(1);
    expect.soft(verify.failures).toContainEqual(expect.objectContaining({ probe: 'definer-function', role: r.app }));

    await r.sql(`DROP TRIGGER feed_deal ON public.deals; DROP FUNCTION public.feed_deal(); DROP TABLE public.deal_feed`);
    await expectBothPass(r, 'security-definer-function', 'definer-function');
  });
});

// The Citus policy form (no scalar subquery): rendered by policy-sql, accepted by our own policy checks, and failing closed like the one-node form.
import { describe, expect, it } from 'vitest';
import { resolveLiveContext } from '../../src/config/live-context.js';
import { ident } from '../../src/db/quote.js';
import { policyTargets, renderPolicyBody, tenantPredicate } from '../../src/policies/policy-sql.js';
import { useTestDatabase } from '../support/database.js';
import { check, fixture, SETTING } from './check-helpers.js';

describe('Citus policy form', () => {
  const db = useTestDatabase();
  const sql = async (text: string) => {
    await db().client.query(text);
  };

  it('renders the setting read without a subquery only for distribution: citus', async () => {
    expect(tenantPredicate('company_id', 'app.current_company_id', 'integer', true)).toBe(
      `"company_id" = nullif(current_setting('app.current_company_id', true), '')::integer`,
    );
    const fx = await fixture(db().client, (p, a) => db().createRole(p, a), { tables: ['notes'], bare: true });
    const live = await resolveLiveContext(db().client, fx.manifest({ distribution: 'citus' }));
    const body = renderPolicyBody(policyTargets(live).find((t) => t.table === 'notes')!);
    expect(body).toContain(`USING ("tenant_id" = nullif(current_setting('${SETTING}', true), '')::integer)`);
    expect(body).not.toContain('(SELECT');
    const plain = renderPolicyBody(policyTargets(await resolveLiveContext(db().client, fx.manifest())).find((t) => t.table === 'notes')!);
    expect(plain).toContain(`(SELECT nullif(current_setting('${SETTING}', true), '')::integer)`);
  });

  it('applied, it fails closed like the subquery form: unset or empty → no rows, set → that tenant only', async () => {
    const fx = await fixture(db().client, (p, a) => db().createRole(p, a), { tables: ['notes'], bare: true });
    const live = await resolveLiveContext(db().client, fx.manifest({ distribution: 'citus' }));
    for (const target of policyTargets(live)) await sql(renderPolicyBody(target));
    await sql(`INSERT INTO ${fx.q('tenants')} VALUES (1, 'a'), (2, 'b');
      INSERT INTO ${fx.q('notes')} VALUES (1, 1, 'x'), (2, 1, 'y'), (3, 2, 'z')`);
    const count = async (setting: string | null): Promise<number> => {
      await sql('BEGIN');
      try {
        await sql(`SET LOCAL ROLE ${ident(fx.app)}`);
        if (setting !== null) await db().client.query('SELECT set_config($1, $2, true)', [SETTING, setting]);
        return Number((await db().client.query(`SELECT count(*) AS n FROM ${fx.q('notes')}`)).rows[0].n);
      } finally {
        await sql('ROLLBACK');
      }
    };
    expect(await count(null)).toBe(0);
    expect(await count('')).toBe(0);
    expect(await count('1')).toBe(2);
    expect(await count('2')).toBe(1);
    await sql('BEGIN');
    await sql(`SET LOCAL ROLE ${ident(fx.app)}`);
    await db().client.query('SELECT set_config($1, $2, true)', [SETTING, '1']);
    await expect(db().client.query(`INSERT INTO ${fx.q('notes')} VALUES (9, 2, 'other tenant')`)).rejects.toThrow(/row-level security/);
    await sql('ROLLBACK');
  });

  it('our policy checks accept it for a Citus manifest (no finding), and keep the info for one node', async () => {
    const fx = await fixture(db().client, (p, a) => db().createRole(p, a), { tables: ['notes'], bare: true });
    const citus = fx.manifest({ distribution: 'citus' });
    const live = await resolveLiveContext(db().client, citus);
    for (const target of policyTargets(live)) await sql(renderPolicyBody(target));
    for (const id of ['policy-not-tenant-scoped', 'permissive-policy-bypass', 'unsafe-setting-read', 'citus-policy-not-distributable']) {
      expect(await check(db().url, citus, id), id).toEqual([]);
    }
    // One node: the same policy is scoped (no error, no warning), its per-row read an info.
    const plain = fx.manifest();
    expect(await check(db().url, plain, 'policy-not-tenant-scoped')).toEqual([]);
    expect((await check(db().url, plain, 'unsafe-setting-read')).map((f) => f.severity)).toEqual(['info', 'info']);
  });
});

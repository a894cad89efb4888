// Issue #12, hole 11: the bookkeeping schema (dedupe_archive and friends: every tenant's rows) granted to the application role.
import { describe, expect, it } from 'vitest';
import { ident } from '../../src/db/quote.js';
import { expectBothPass, useRollout } from './rollout.js';

describe('hole 11: the bookkeeping schema readable by the application role', () => {
  const rollout = useRollout();

  it('audit (state-schema-exposed) and verify (state-schema) fail while granted; both pass once revoked', async () => {
    const r = rollout();
    const state = r.rolled.manifest.stateSchema;
    const tables = (await r.sql(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = $1 AND tablename = 'dedupe_archive'`, [state])).rows[0].n;
    expect(tables).toBe(1);
    await r.sql(`GRANT USAGE ON SCHEMA ${ident(state)} TO ${ident(r.app)};
                 GRANT SELECT ON ALL TABLES IN SCHEMA ${ident(state)} TO ${ident(r.app)}`);
    expect(await r.asApp('2', `SELECT count(*) FROM ${ident(state)}.dedupe_archive`)).not.toHaveProperty('error');

    const audit = await r.audit();
    expect.soft(audit.code).toBe(1);
    expect.soft(audit.findings).toContainEqual(
      expect.objectContaining({ check: 'state-schema-exposed', severity: 'error', table: null, object: `${state}.dedupe_archive` }),
    );
    const verify = await r.verify();
    expect.soft(verify.code).toBe(1);
    expect.soft(verify.failures).toContainEqual(expect.objectContaining({ probe: 'state-schema', role: r.app }));

    await r.sql(`REVOKE ALL ON ALL TABLES IN SCHEMA ${ident(state)} FROM ${ident(r.app)};
                 REVOKE USAGE ON SCHEMA ${ident(state)} FROM ${ident(r.app)}`);
    expect(await r.asApp('2', `SELECT count(*) FROM ${ident(state)}.dedupe_archive`)).toEqual({ error: '42501' });
    await expectBothPass(r, 'state-schema-exposed', 'state-schema');
  });
});

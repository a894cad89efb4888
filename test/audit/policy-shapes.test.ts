// Policy predicates true with no tenant set, or for another tenant: each an error, each a real leak as the app role; the safe form is clean.
import { beforeAll, describe, expect, it } from 'vitest';
import { runAudit } from '../../src/audit/runner.js';
import type { Manifest } from '../../src/config/manifest.js';
import { ident, literal } from '../../src/db/quote.js';
import { useTestDatabase } from '../support/database.js';
import { fixture, predicate, SETTING, type Fixture } from './check-helpers.js';

const POLICY_CHECKS = ['policy-not-tenant-scoped', 'permissive-policy-bypass', 'unsafe-setting-read'];
/** The setting read of the generated policy, as an integer. */
const READ = `(SELECT nullif(current_setting(${literal(SETTING)}, true), '')::integer)`;

interface Shape {
  name: string;
  /** The USING / WITH CHECK expression; `{wrapper}` is the schema-qualified wrapper function. */
  using: string;
  /** Body of the wrapper function `{wrapper}`, when the shape uses one. */
  wrapper?: string;
  check: string;
  /** The tenant the app role sets (null: none) and the tenants whose rows it then wrongly sees. */
  tenant: string | null;
  leaks: number[];
  message: RegExp;
}

const SHAPES: Shape[] = [
  {
    name: 'COALESCE falling back to the column itself',
    using: `tenant_id = coalesce(${READ}, tenant_id)`,
    check: 'unsafe-setting-read',
    tenant: null,
    leaks: [1, 2],
    message: /it can be tenant_id itself \(every row matches\)/,
  },
  {
    name: 'a CASE branch with a fixed tenant',
    using: `tenant_id = CASE WHEN ${READ} IS NULL THEN 2 ELSE ${READ} END`,
    check: 'unsafe-setting-read',
    tenant: null,
    leaks: [2],
    message: /it can be the constant 2/,
  },
  {
    name: 'GREATEST with a constant',
    using: `tenant_id = greatest(${READ}, 2)`,
    check: 'unsafe-setting-read',
    tenant: null,
    leaks: [2],
    message: /it can be the constant 2/,
  },
  {
    name: 'a wrapper function returning coalesce(…, 2)',
    using: `tenant_id = (SELECT {wrapper}())`,
    wrapper: `SELECT coalesce(nullif(current_setting(${literal(SETTING)}, true), '')::integer, 2)`,
    check: 'unsafe-setting-read',
    tenant: null,
    leaks: [2],
    message: /it can be the constant 2/,
  },
  {
    name: '>= (every higher tenant id)',
    using: `tenant_id >= ${READ}`,
    check: 'policy-not-tenant-scoped',
    tenant: '1',
    leaks: [2],
    message: /policy tenant_isolation compares tenant_id >= app\.tenant_id \(SELECT, INSERT, UPDATE, DELETE\): rows of other tenants match it/,
  },
  {
    name: '<> (every other tenant)',
    using: `tenant_id <> ${READ}`,
    check: 'policy-not-tenant-scoped',
    tenant: '1',
    leaks: [2],
    message: /compares tenant_id <> app\.tenant_id/,
  },
  {
    name: 'IN (<setting>, a constant)',
    using: `tenant_id IN (${READ}, 2)`,
    check: 'policy-not-tenant-scoped',
    tenant: '1',
    leaks: [2],
    message: /compares tenant_id IN \(app\.tenant_id, 2\)/,
  },
  {
    name: 'a negated tenant equality',
    using: `NOT (tenant_id = ${READ})`,
    check: 'policy-not-tenant-scoped',
    tenant: '1',
    leaks: [2],
    message: /compares NOT \(tenant_id = app\.tenant_id\)/,
  },
  {
    name: 'OR with a non-tenant branch',
    using: `tenant_id = ${READ} OR body = 'public'`,
    check: 'permissive-policy-bypass',
    tenant: '1',
    leaks: [2],
    message: /wider than the tenant predicate/,
  },
];

describe('policy analysis: every value and every operator of the tenant comparison is read', () => {
  const db = useTestDatabase();
  let f: Fixture;
  let manifest: Manifest;
  const sql = async (text: string) => {
    await db().client.query(text);
  };
  const wrapper = () => `${ident(f.schema)}.current_tenant`;
  const setPolicy = async (using: string) =>
    sql(`DROP POLICY tenant_isolation ON ${f.q('notes')};
         CREATE POLICY tenant_isolation ON ${f.q('notes')} AS PERMISSIVE FOR ALL TO ${ident(f.app)} USING (${using}) WITH CHECK (${using})`);
  const gating = async () =>
    (await runAudit({ databaseUrl: db().url, manifest, only: POLICY_CHECKS, concurrency: 1 })).findings.filter((x) => x.severity !== 'info');
  /** The tenants whose notes the app role sees with `tenant` set (or none). */
  const seenBy = async (tenant: string | null): Promise<number[]> => {
    const c = db().client;
    await c.query('BEGIN');
    try {
      await c.query(`SET LOCAL ROLE ${ident(f.app)}`);
      if (tenant !== null) await c.query(`SELECT set_config($1, $2, true)`, [SETTING, tenant]);
      const { rows } = await c.query<{ tenant_id: number }>(`SELECT DISTINCT tenant_id FROM ${f.q('notes')} ORDER BY 1`);
      return rows.map((r) => r.tenant_id);
    } finally {
      await c.query('ROLLBACK');
    }
  };

  beforeAll(async () => {
    f = await fixture(db().client, db().createRole, { tables: ['notes'], rolePrefix: 'shape' });
    manifest = f.manifest();
    await sql(`INSERT INTO ${f.q('tenants')} VALUES (1, 'one'), (2, 'two');
               INSERT INTO ${f.q('notes')} VALUES (1, 1, 'private'), (2, 2, 'public')`);
  });

  it('the safe form is clean, and confines the app role to its tenant (none without a tenant)', async () => {
    expect(await gating()).toEqual([]);
    expect(await seenBy('1')).toEqual([1]);
    expect(await seenBy(null)).toEqual([]);
  });

  for (const shape of SHAPES) {
    it(`${shape.name}: an error (${shape.check}) and a real leak; the safe form again: clean`, async () => {
      if (shape.wrapper) {
        await sql(`CREATE OR REPLACE FUNCTION ${wrapper()}() RETURNS integer LANGUAGE sql STABLE AS $$ ${shape.wrapper} $$`);
      }
      try {
        await setPolicy(shape.using.replace('{wrapper}', wrapper()));
        // The hole is real: the app role sees rows of a tenant it must not.
        const seen = await seenBy(shape.tenant);
        for (const t of shape.leaks) expect(seen).toContain(t);
        const found = await gating();
        const mine = found.filter((x) => x.check === shape.check);
        expect(mine.map((x) => `${x.severity} ${x.table}`)).toEqual([`error ${f.schema}.notes`]);
        expect(mine[0].message).toMatch(shape.message);
      } finally {
        await setPolicy(predicate());
        if (shape.wrapper) await sql(`DROP FUNCTION ${wrapper()}()`);
      }
      expect(await gating()).toEqual([]);
      expect(await seenBy('1')).toEqual([1]);
    });
  }

  it('a safe wrapper function (nullif, no fallback) and a safe IN list are clean', async () => {
    await sql(`CREATE FUNCTION ${wrapper()}() RETURNS integer LANGUAGE sql STABLE AS $$ SELECT nullif(current_setting(${literal(SETTING)}, true), '')::integer $$`);
    try {
      await setPolicy(`tenant_id = (SELECT ${wrapper()}())`);
      expect(await gating()).toEqual([]);
      expect(await seenBy(null)).toEqual([]);
      await setPolicy(`tenant_id IN (${READ})`);
      expect(await gating()).toEqual([]);
      // NULLIF(coalesce(<setting>, ''), '') falls back to '' and turns it into NULL: no fallback left.
      await setPolicy(`tenant_id = nullif(coalesce(current_setting(${literal(SETTING)}, true), ''), '')::integer`);
      expect((await gating()).filter((x) => x.severity === 'error')).toEqual([]);
      expect(await seenBy(null)).toEqual([]);
    } finally {
      await setPolicy(predicate());
      await sql(`DROP FUNCTION ${wrapper()}()`);
    }
  });
});

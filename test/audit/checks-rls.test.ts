// Two-sided tests of the RLS and policy checks (0013–0019, 0023): plant the defect, find it, fix it, find nothing.
import { describe, expect, it } from 'vitest';
import { runAudit } from '../../src/audit/runner.js';
import { ident } from '../../src/db/quote.js';
import { ensureStateSchema } from '../../src/state/state-schema.js';
import { useTestDatabase } from '../support/database.js';
import { brief, check, fixture, predicate, secure, SETTING } from './check-helpers.js';

describe('RLS checks', () => {
  const db = useTestDatabase();
  const make = (options?: Parameters<typeof fixture>[2]) => fixture(db().client, (p, a) => db().createRole(p, a), options);
  const sql = (text: string) => db().client.query(text);

  it('rls-disabled: every scoped table and the tenant table, until RLS is enabled', async () => {
    const f = await make({ bare: true });
    const m = f.manifest();
    expect(await brief(db().url, m, 'rls-disabled')).toEqual([`error ${f.schema}.notes -`, `error ${f.schema}.tenants -`]);
    await sql(`ALTER TABLE ${f.q('notes')} ENABLE ROW LEVEL SECURITY`);
    expect(await brief(db().url, m, 'rls-disabled')).toEqual([`error ${f.schema}.tenants -`]);
    await sql(`ALTER TABLE ${f.q('tenants')} ENABLE ROW LEVEL SECURITY`);
    expect(await brief(db().url, m, 'rls-disabled')).toEqual([]);
  });

  it('rls-not-forced: a warning, an error when the application role owns the table, nothing once forced', async () => {
    const f = await make();
    const m = f.manifest();
    expect(await brief(db().url, m, 'rls-not-forced')).toEqual([]);
    await sql(`ALTER TABLE ${f.q('notes')} NO FORCE ROW LEVEL SECURITY`);
    const [owner] = (await sql(`SELECT current_user AS u`)).rows.map((r) => r.u as string);
    expect(await brief(db().url, m, 'rls-not-forced')).toEqual([`warning ${f.schema}.notes ${owner}`]);
    await sql(`ALTER TABLE ${f.q('notes')} OWNER TO ${ident(f.app)}`);
    const [finding] = await check(db().url, m, 'rls-not-forced');
    expect(finding).toMatchObject({ severity: 'error', table: `${f.schema}.notes`, object: f.app });
    expect(finding.message).toContain(`application role ${f.app}`);
    // Owned through a group role the application inherits from: still the application's table.
    const group = await db().createRole('owners');
    await sql(`ALTER TABLE ${f.q('notes')} OWNER TO ${ident(group)}; GRANT ${ident(group)} TO ${ident(f.app)}`);
    expect(await brief(db().url, m, 'rls-not-forced')).toEqual([`error ${f.schema}.notes ${group}`]);
    await sql(`ALTER TABLE ${f.q('notes')} FORCE ROW LEVEL SECURITY`);
    expect(await brief(db().url, m, 'rls-not-forced')).toEqual([]);
  });

  it('partition-without-rls: a partition (and a sub-partition) without RLS or without policies', async () => {
    const f = await make();
    const ev = f.q('events');
    await sql(`
      CREATE TABLE ${ev} (id integer NOT NULL, tenant_id integer NOT NULL REFERENCES ${f.q('tenants')} (id), PRIMARY KEY (tenant_id, id))
        PARTITION BY LIST (tenant_id);
      CREATE TABLE ${f.q('events_1')} PARTITION OF ${ev} FOR VALUES IN (1);
      CREATE TABLE ${f.q('events_rest')} PARTITION OF ${ev} DEFAULT PARTITION BY RANGE (id);
      CREATE TABLE ${f.q('events_rest_low')} PARTITION OF ${f.q('events_rest')} FOR VALUES FROM (0) TO (1000);
      GRANT SELECT, INSERT, UPDATE, DELETE ON ${ev}, ${f.q('events_1')} TO ${ident(f.app)};
      ${secure(ev, f.app).join(';\n')};`);
    const m = f.manifest({ tables: { notes: null, events: null } });
    expect(await brief(db().url, m, 'partition-without-rls')).toEqual([
      `error ${f.schema}.events ${f.schema}.events_1`,
      `error ${f.schema}.events ${f.schema}.events_rest`,
      `error ${f.schema}.events ${f.schema}.events_rest_low`,
    ]);
    await sql(`ALTER TABLE ${f.q('events_1')} ENABLE ROW LEVEL SECURITY`);
    const found = await check(db().url, m, 'partition-without-rls');
    expect(found.find((x) => x.object === `${f.schema}.events_1`)?.message).toContain('row-level security but no policy');
    for (const p of ['events_1', 'events_rest', 'events_rest_low']) await sql(secure(f.q(p), f.app).join(';\n'));
    expect(await brief(db().url, m, 'partition-without-rls')).toEqual([]);

    // A partition's own policies decide what a query on the partition sees: the policy checks judge them too.
    expect(await brief(db().url, m, 'permissive-policy-bypass')).toEqual([]);
    await sql(`CREATE POLICY wide ON ${f.q('events_rest_low')} FOR SELECT TO ${ident(f.app)} USING (true);
      CREATE POLICY raw_read ON ${f.q('events_1')} FOR SELECT TO ${ident(f.app)} USING (tenant_id = current_setting('${SETTING}')::integer)`);
    expect(await brief(db().url, m, 'permissive-policy-bypass')).toEqual([`error ${f.schema}.events wide on partition ${f.schema}.events_rest_low`]);
    expect(await brief(db().url, m, 'unsafe-setting-read')).toEqual([`warning ${f.schema}.events raw_read on partition ${f.schema}.events_1`]);
    await sql(`DROP POLICY wide ON ${f.q('events_rest_low')}; DROP POLICY raw_read ON ${f.q('events_1')}`);
    expect(await brief(db().url, m, 'permissive-policy-bypass')).toEqual([]);
    expect(await brief(db().url, m, 'unsafe-setting-read')).toEqual([]);
  });

  it('no-policy: RLS on without any policy, or with only restrictive ones (both deny everything)', async () => {
    const f = await make();
    const m = f.manifest();
    expect(await brief(db().url, m, 'no-policy')).toEqual([]);
    await sql(`DROP POLICY tenant_isolation ON ${f.q('notes')}`);
    expect(await brief(db().url, m, 'no-policy')).toEqual([`error ${f.schema}.notes -`]);
    await sql(`CREATE POLICY only_restrictive ON ${f.q('notes')} AS RESTRICTIVE FOR ALL TO ${ident(f.app)} USING (${predicate()})`);
    const [restrictive] = await check(db().url, m, 'no-policy');
    expect(restrictive).toMatchObject({ severity: 'error', table: `${f.schema}.notes` });
    expect(restrictive.message).toContain('only restrictive');
    await sql(`CREATE POLICY everyone ON ${f.q('notes')} FOR ALL USING (true)`);
    expect(await brief(db().url, m, 'no-policy')).toEqual([]);
  });

  it('hostile identifiers: quotes, dots, semicolons, spaces, unicode and a 63-byte table name', async () => {
    const schema = `we"ird. sch;ema ü`;
    const table = `x"; DROP TABLE y; --${'é'.repeat(20)}`.slice(0, 40) + 't'.repeat(63 - Buffer.byteLength(`x"; DROP TABLE y; --${'é'.repeat(20)}`.slice(0, 40)));
    expect(Buffer.byteLength(table)).toBe(63);
    const f = await make({ schema, tables: [table], bare: true, rolePrefix: `a"p p;ü` });
    expect(f.app).toContain('"');
    const m = f.manifest();
    expect(await brief(db().url, m, 'rls-disabled')).toEqual([`error ${schema}.${table} -`, `error ${schema}.tenants -`].sort());
    await sql(`ALTER TABLE ${f.q(table)} ENABLE ROW LEVEL SECURITY; ALTER TABLE ${f.q('tenants')} ENABLE ROW LEVEL SECURITY`);
    expect(await brief(db().url, m, 'no-policy')).toEqual([`error ${schema}.${table} -`, `error ${schema}.tenants -`].sort());
    const policy = `p"ol; icy.ü`;
    await sql(`${secure(f.q('tenants'), f.app, 'id').join(';')};
      CREATE POLICY ${ident(policy)} ON ${f.q(table)} FOR ALL TO ${ident(f.app)} USING (${predicate()} OR true)`);
    expect(await brief(db().url, m, 'no-policy')).toEqual([]);
    const owner = (await sql(`SELECT current_user AS u`)).rows[0].u as string;
    expect(await brief(db().url, m, 'rls-not-forced')).toEqual([`warning ${schema}.${table} ${owner}`]);
    expect(await brief(db().url, m, 'policy-not-tenant-scoped')).toEqual([]);
    expect(await brief(db().url, m, 'permissive-policy-bypass')).toEqual([`error ${schema}.${table} ${policy}`]);
    await sql(`ALTER TABLE ${f.q(table)} FORCE ROW LEVEL SECURITY; ALTER POLICY ${ident(policy)} ON ${f.q(table)} USING (${predicate()})`);
    expect(await brief(db().url, m, 'permissive-policy-bypass')).toEqual([]);
    expect(await brief(db().url, m, 'rls-not-forced')).toEqual([]);
  });

  it('untracked-table: a table neither scoped nor exempt; never the bookkeeping schema', async () => {
    const f = await make();
    await sql(`CREATE TABLE ${f.q('stray')} (id int); CREATE TABLE ${f.q('plans')} (id int)`);
    const stateSchema = `${f.schema}_state`;
    const c = await db().connect();
    await ensureStateSchema(c, stateSchema);
    const m = f.manifest({ state_schema: stateSchema, exempt: { plans: 'global price list, no tenant' } });
    expect(await brief(db().url, m, 'untracked-table')).toEqual([`warning ${f.schema}.stray -`]);
    const m2 = f.manifest({ state_schema: stateSchema, exempt: { plans: 'global', stray: 'scratch table of the ops team' } });
    expect(await brief(db().url, m2, 'untracked-table')).toEqual([]);
    // The bookkeeping schema as the audited schema's neighbour is never reported, even with tables in it.
    const tables = (await sql(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = '${stateSchema}'`)).rows[0].n;
    expect(tables).toBeGreaterThan(0);
  });
});

describe('policy checks (read with the PostgreSQL parser)', () => {
  const db = useTestDatabase();
  const POLICY_CHECKS = ['policy-not-tenant-scoped', 'permissive-policy-bypass', 'unsafe-setting-read'];

  /**
   * A compliant schema whose notes table gets only the given policies ({t} = the table, {app} = the
   * application role, {p} = the generated predicate); returns the findings of the three policy checks.
   */
  async function policies(statements: string[], options: { bypass?: boolean; setup?: string } = {}): Promise<string[]> {
    const f = await fixture(db().client, (p, a) => db().createRole(p, a), { bare: true });
    const bypass = options.bypass ? await db().createRole('support') : null;
    const fill = (s: string) =>
      s.replaceAll('{s}', ident(f.schema)).replaceAll('{t}', f.q('notes')).replaceAll('{app}', ident(f.app)).replaceAll('{p}', predicate()).replaceAll('{bypass}', ident(bypass ?? 'x'));
    await db().client.query(
      [
        ...secure(f.q('tenants'), f.app, 'id'),
        `ALTER TABLE ${f.q('notes')} ENABLE ROW LEVEL SECURITY`,
        `ALTER TABLE ${f.q('notes')} FORCE ROW LEVEL SECURITY`,
        ...(options.setup ? [fill(options.setup)] : []),
        ...statements.map(fill),
      ].join(';\n'),
    );
    const manifest = f.manifest(bypass ? { roles: { app: [f.app], bypass: { [bypass]: 'support desk reads every tenant' } } } : {});
    const result = await runAudit({ databaseUrl: db().url, manifest, only: POLICY_CHECKS, concurrency: 1 });
    return result.findings
      .map((x) => `${x.check} ${x.severity} ${x.table ?? '-'} ${x.object === f.app ? 'APP' : x.object === bypass ? 'BYPASS' : x.object} ${JSON.stringify(x.samples)}`.replace(`${f.schema}.`, ''))
      .sort();
  }
  const ALL = '["SELECT","INSERT","UPDATE","DELETE"]';

  it('the generated policy, with or without the subselect, TO the app role or TO PUBLIC: no finding (at most info)', async () => {
    expect(await policies([`CREATE POLICY tenant ON {t} FOR ALL TO {app} USING ({p}) WITH CHECK ({p})`])).toEqual([]);
    expect(await policies([`CREATE POLICY tenant ON {t} FOR ALL TO PUBLIC USING ({p}) WITH CHECK ({p})`])).toEqual([]);
    const plain = `tenant_id = nullif(current_setting('${SETTING}', true), '')::integer`;
    expect(await policies([`CREATE POLICY tenant ON {t} FOR ALL TO {app} USING (${plain}) WITH CHECK (${plain})`])).toEqual([
      'unsafe-setting-read info notes tenant []',
    ]);
  });

  it('FOR ALL / FOR UPDATE without WITH CHECK reuse USING; FOR INSERT without WITH CHECK denies: no finding', async () => {
    expect(await policies([`CREATE POLICY tenant ON {t} FOR ALL TO {app} USING ({p})`])).toEqual([]);
    expect(
      await policies([
        `CREATE POLICY sel ON {t} FOR SELECT TO {app} USING ({p})`,
        `CREATE POLICY upd ON {t} FOR UPDATE TO {app} USING ({p})`,
        `CREATE POLICY del ON {t} FOR DELETE TO {app} USING ({p})`,
        `CREATE POLICY ins ON {t} FOR INSERT TO {app}`,
      ]),
    ).toEqual([]);
  });

  it('a RESTRICTIVE tenant policy beside a permissive USING (true): no finding', async () => {
    expect(
      await policies([
        `CREATE POLICY tenant ON {t} AS RESTRICTIVE FOR ALL TO {app} USING ({p}) WITH CHECK ({p})`,
        `CREATE POLICY legacy ON {t} AS PERMISSIVE FOR ALL TO PUBLIC USING (true)`,
      ]),
    ).toEqual([]);
  });

  it('a RESTRICTIVE tenant policy covers only the roles it applies to (a group role counts)', async () => {
    const group = await db().createRole('apps');
    const other = await db().createRole('other');
    expect(
      await policies([
        `GRANT ${ident(group)} TO {app}`,
        `CREATE POLICY tenant ON {t} AS RESTRICTIVE FOR ALL TO ${ident(group)} USING ({p}) WITH CHECK ({p})`,
        `CREATE POLICY legacy ON {t} AS PERMISSIVE FOR ALL TO {app} USING (true)`,
      ]),
    ).toEqual([]);
    expect(
      await policies([
        `CREATE POLICY tenant ON {t} AS RESTRICTIVE FOR ALL TO ${ident(other)} USING ({p}) WITH CHECK ({p})`,
        `CREATE POLICY legacy ON {t} AS PERMISSIVE FOR ALL TO {app} USING (true)`,
      ]),
    ).toEqual([`permissive-policy-bypass error notes legacy ${ALL}`, `policy-not-tenant-scoped error notes APP ${ALL}`]);
  });

  it('WITH CHECK (true) beside a tenant USING: a write hole for INSERT and UPDATE', async () => {
    expect(await policies([`CREATE POLICY tenant ON {t} FOR ALL TO {app} USING ({p}) WITH CHECK (true)`])).toEqual([
      'permissive-policy-bypass error notes tenant ["INSERT","UPDATE"]',
    ]);
    // A FOR INSERT policy of its own with WITH CHECK (true): no tenant comparison for INSERT at all.
    expect(
      await policies([`CREATE POLICY tenant ON {t} FOR SELECT TO {app} USING ({p})`, `CREATE POLICY ins ON {t} FOR INSERT TO {app} WITH CHECK (true)`]),
    ).toEqual(['permissive-policy-bypass error notes ins ["INSERT"]', 'policy-not-tenant-scoped error notes APP ["INSERT"]']);
  });

  it('an OR-widened USING, and FOR SELECT USING (true) for PUBLIC beside the tenant policy', async () => {
    expect(
      await policies([`CREATE POLICY tenant ON {t} FOR ALL TO {app} USING (({p}) OR body = 'public') WITH CHECK ({p})`]),
    ).toEqual(['permissive-policy-bypass error notes tenant ["SELECT","UPDATE","DELETE"]']);
    expect(
      await policies([
        `CREATE POLICY tenant ON {t} FOR ALL TO {app} USING ({p}) WITH CHECK ({p})`,
        `CREATE POLICY read_all ON {t} FOR SELECT TO PUBLIC USING (true)`,
      ]),
    ).toEqual(['permissive-policy-bypass error notes read_all ["SELECT"]']);
  });

  it('a policy on another column, or only through a group role the app belongs to, is not tenant-scoped', async () => {
    expect(
      await policies([`CREATE POLICY mine ON {t} FOR ALL TO {app} USING (id = (SELECT nullif(current_setting('${SETTING}', true), '')::integer))`]),
    ).toEqual([`permissive-policy-bypass error notes mine ${ALL}`, `policy-not-tenant-scoped error notes APP ${ALL}`]);
    const group = await db().createRole('grp');
    expect(
      await policies([`GRANT ${ident(group)} TO {app}`, `CREATE POLICY via_group ON {t} FOR SELECT TO ${ident(group)} USING (true)`]),
    ).toEqual(['permissive-policy-bypass error notes via_group ["SELECT"]', 'policy-not-tenant-scoped error notes APP ["SELECT"]']);
  });

  it('a bypass role of the manifest with its own USING (true) policy: info only', async () => {
    expect(
      await policies([
        `CREATE POLICY tenant ON {t} FOR ALL TO {app} USING ({p}) WITH CHECK ({p})`,
        `CREATE POLICY support_reads ON {t} FOR SELECT TO {bypass} USING (true)`,
      ], { bypass: true }),
    ).toEqual(['permissive-policy-bypass info - BYPASS ["notes"]']);
  });

  it('unsafe setting reads: no missing_ok, a cast without nullif, a wrong name, VOLATILE functions', async () => {
    const noMissingOk = `tenant_id = (SELECT nullif(current_setting('${SETTING}'), '')::integer)`;
    expect(await policies([`CREATE POLICY t1 ON {t} FOR ALL TO {app} USING (${noMissingOk})`])).toEqual([
      'unsafe-setting-read warning notes t1 []',
    ]);
    const noNullif = `tenant_id = (SELECT current_setting('${SETTING}', true)::integer)`;
    expect(await policies([`CREATE POLICY t2 ON {t} FOR ALL TO {app} USING (${noNullif})`])).toEqual([
      'unsafe-setting-read warning notes t2 []',
    ]);
    const wrongName = `tenant_id = (SELECT nullif(current_setting('app.company', true), '')::integer)`;
    expect(await policies([`CREATE POLICY t3 ON {t} FOR ALL TO {app} USING (${wrongName})`])).toEqual([
      `permissive-policy-bypass error notes t3 ${ALL}`,
      `policy-not-tenant-scoped error notes APP ${ALL}`,
      'unsafe-setting-read warning notes t3 []',
    ]);
    expect(await policies([`CREATE POLICY t4 ON {t} FOR ALL TO {app} USING (({p}) AND random() >= 0)`])).toEqual([
      'unsafe-setting-read warning notes t4 []',
    ]);
  });

  it('a user function declared VOLATILE is a warning; the same function STABLE is not', async () => {
    const fn = (vol: string) => `CREATE FUNCTION {s}.row_ok(i integer) RETURNS boolean LANGUAGE sql ${vol} AS 'SELECT i >= 0'`;
    const use = `CREATE POLICY t5 ON {t} FOR ALL TO {app} USING (({p}) AND {s}.row_ok(id))`;
    const volatile = await policies([use], { setup: fn('VOLATILE') });
    expect(volatile).toEqual(['unsafe-setting-read warning notes t5 []']);
    const f = await fixture(db().client, (p, a) => db().createRole(p, a));
    await db().client.query(`CREATE FUNCTION ${ident(f.schema)}.row_ok(i integer) RETURNS boolean LANGUAGE sql VOLATILE AS 'SELECT i >= 0';
      CREATE POLICY t6 ON ${f.q('notes')} AS RESTRICTIVE FOR SELECT USING (${ident(f.schema)}.row_ok(id))`);
    const [one] = await check(db().url, f.manifest(), 'unsafe-setting-read');
    expect(one.message).toBe(`policy t6: calls VOLATILE function ${f.schema}.row_ok(integer) for every row`);
    expect(await policies([use], { setup: fn('STABLE') })).toEqual([]);
  });

  it('a wrapper function around the setting read: its unsafe read is a warning, its safe read is not', async () => {
    const wrapper = (body: string) => `CREATE FUNCTION {s}.current_tenant() RETURNS integer LANGUAGE sql STABLE AS $$ ${body} $$`;
    const use = `CREATE POLICY w ON {t} FOR ALL TO {app} USING (tenant_id = (SELECT {s}.current_tenant())) WITH CHECK (tenant_id = (SELECT {s}.current_tenant()))`;
    expect(await policies([use], { setup: wrapper(`SELECT nullif(current_setting('${SETTING}', true), '')::integer`) })).toEqual([]);
    expect(await policies([use], { setup: wrapper(`SELECT current_setting('${SETTING}')::integer`) })).toEqual([
      'unsafe-setting-read warning notes w []',
    ]);
  });

  it('messages name what is wrong', async () => {
    const f = await fixture(db().client, (p, a) => db().createRole(p, a), { bare: true });
    await db().client.query(
      [
        `ALTER TABLE ${f.q('notes')} ENABLE ROW LEVEL SECURITY`,
        `CREATE POLICY bad ON ${f.q('notes')} FOR ALL TO ${ident(f.app)} USING (tenant_id = current_setting('app.other')::integer AND random() > 0)`,
      ].join(';\n'),
    );
    const [finding] = await check(db().url, f.manifest(), 'unsafe-setting-read');
    expect(finding.message).toContain('reads app.other, but the application sets app.tenant_id');
    expect(finding.message).toContain('without missing_ok');
    expect(finding.message).toContain("without nullif");
    expect(finding.message).toContain('VOLATILE function random');
  });
});

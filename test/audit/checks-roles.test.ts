// Two-sided tests of the role, view and function checks (0020–0022): plant the hole, find it, close it, find nothing.
import { describe, expect, it } from 'vitest';
import { ident, literal } from '../../src/db/quote.js';
import { useTestDatabase } from '../support/database.js';
import { brief, check, fixture } from './check-helpers.js';

describe('role, view and function checks', () => {
  const db = useTestDatabase();
  const make = (options?: Parameters<typeof fixture>[2]) => fixture(db().client, (p, a) => db().createRole(p, a), options);
  const sql = (text: string) => db().client.query(text);
  const ID = 'app-role-bypasses-rls';

  it('app-role-bypasses-rls: SUPERUSER, BYPASSRLS, each found and gone when revoked', async () => {
    const f = await make();
    const m = f.manifest();
    expect(await brief(db().url, m, ID)).toEqual([]);
    await sql(`ALTER ROLE ${ident(f.app)} SUPERUSER`);
    const [superuser] = await check(db().url, m, ID);
    expect(superuser).toMatchObject({ severity: 'error', table: null, object: f.app });
    expect(superuser.message).toContain('superuser');
    await sql(`ALTER ROLE ${ident(f.app)} NOSUPERUSER BYPASSRLS`);
    const [bypass] = await check(db().url, m, ID);
    expect(bypass).toMatchObject({ severity: 'error', object: f.app });
    expect(bypass.message).toContain('BYPASSRLS');
    await sql(`ALTER ROLE ${ident(f.app)} NOBYPASSRLS`);
    expect(await brief(db().url, m, ID)).toEqual([]);
  });

  it('app-role-bypasses-rls: owner of a scoped table without FORCE (error), with FORCE (none)', async () => {
    const f = await make();
    const m = f.manifest();
    await sql(`ALTER TABLE ${f.q('notes')} OWNER TO ${ident(f.app)}; ALTER TABLE ${f.q('notes')} NO FORCE ROW LEVEL SECURITY`);
    expect(await brief(db().url, m, ID)).toEqual([`error ${f.schema}.notes ${f.app}`]);
    await sql(`ALTER TABLE ${f.q('notes')} FORCE ROW LEVEL SECURITY`);
    expect(await brief(db().url, m, ID)).toEqual([]);
  });

  it('app-role-bypasses-rls: member of a BYPASSRLS or SUPERUSER role, inheriting or not (it can SET ROLE)', async () => {
    const f = await make();
    const m = f.manifest();
    const support = await db().createRole('byp', 'BYPASSRLS');
    await sql(`GRANT ${ident(support)} TO ${ident(f.app)}`);
    const [member] = await check(db().url, m, ID);
    expect(member).toMatchObject({ severity: 'error', object: f.app });
    expect(member.message).toContain(`can SET ROLE to ${support}, which has BYPASSRLS`);
    await sql(`REVOKE ${ident(support)} FROM ${ident(f.app)}`);
    expect(await brief(db().url, m, ID)).toEqual([]);
    // Through an intermediate role, and without INHERIT.
    const middle = await db().createRole('mid', 'NOINHERIT');
    await sql(`GRANT ${ident(support)} TO ${ident(middle)}; GRANT ${ident(middle)} TO ${ident(f.app)}`);
    expect((await check(db().url, m, ID)).map((x) => x.message)).toEqual([
      `application role ${f.app} can SET ROLE to ${support}, which has BYPASSRLS`,
    ]);
    await sql(`REVOKE ${ident(middle)} FROM ${ident(f.app)}`);
    // A member of the owner of a table that is not FORCE: as good as the owner.
    const owner = await db().createRole('own');
    await sql(`ALTER TABLE ${f.q('notes')} OWNER TO ${ident(owner)}; ALTER TABLE ${f.q('notes')} NO FORCE ROW LEVEL SECURITY`);
    await sql(`GRANT ${ident(owner)} TO ${ident(f.app)}`);
    expect(await brief(db().url, m, ID)).toEqual([`error ${f.schema}.notes ${f.app}`]);
    await sql(`ALTER TABLE ${f.q('notes')} FORCE ROW LEVEL SECURITY`);
    expect(await brief(db().url, m, ID)).toEqual([]);
  });

  it('app-role-bypasses-rls: a manifest bypass role is info only; a missing app role is a warning', async () => {
    const f = await make();
    const support = await db().createRole('sup', 'BYPASSRLS');
    const m = f.manifest({ roles: { app: [f.app], bypass: { [support]: 'support desk reads every tenant' } } });
    const found = await check(db().url, m, ID);
    expect(found.map((x) => `${x.severity} ${x.object}`)).toEqual([`info ${support}`]);
    expect(found[0].message).toContain('support desk reads every tenant');
    const missing = f.manifest({ roles: { app: [f.app, `${f.app}_gone`] } });
    expect(await brief(db().url, missing, ID)).toEqual([`warning - ${f.app}_gone`]);
  });

  it('view-bypasses-rls: a definer view owned by a superuser (error) until security_invoker', async () => {
    const f = await make();
    const m = f.manifest();
    const v = f.q('all_notes');
    await sql(`CREATE VIEW ${v} AS SELECT id, body FROM ${f.q('notes')}; GRANT SELECT ON ${v} TO ${ident(f.app)}`);
    const [found] = await check(db().url, m, 'view-bypasses-rls');
    expect(found).toMatchObject({ severity: 'error', table: `${f.schema}.notes`, object: `${f.schema}.all_notes` });
    expect(found.message).toContain('who bypasses row-level security');
    await sql(`ALTER VIEW ${v} SET (security_invoker = true)`);
    expect(await brief(db().url, m, 'view-bypasses-rls')).toEqual([]);
    // Owned by a role that is subject to RLS (not the tables' owner): the policies apply to it.
    const plain = await db().createRole('viewer');
    await sql(`ALTER VIEW ${v} RESET (security_invoker); GRANT USAGE ON SCHEMA ${ident(f.schema)} TO ${ident(plain)};
               GRANT SELECT ON ${f.q('notes')} TO ${ident(plain)}; ALTER VIEW ${v} OWNER TO ${ident(plain)}`);
    expect(await brief(db().url, m, 'view-bypasses-rls')).toEqual([]);
    // Not readable by the application: no finding either.
    await sql(`ALTER VIEW ${v} OWNER TO CURRENT_USER; REVOKE SELECT ON ${v} FROM ${ident(f.app)}`);
    expect(await brief(db().url, m, 'view-bypasses-rls')).toEqual([]);
  });

  it('view-bypasses-rls: through a chain of views (an invoker view over a definer view, and the reverse)', async () => {
    const f = await make();
    const m = f.manifest();
    const inner = f.q('inner_v');
    const outer = f.q('outer_v');
    await sql(`CREATE VIEW ${inner} AS SELECT id, body FROM ${f.q('notes')};
               CREATE VIEW ${outer} WITH (security_invoker = true) AS SELECT id FROM ${inner};
               GRANT SELECT ON ${outer} TO ${ident(f.app)}`);
    // Only the outer view is readable; the inner one runs as the superuser that created it.
    const [found] = await check(db().url, m, 'view-bypasses-rls');
    expect(found).toMatchObject({ severity: 'error', table: `${f.schema}.notes`, object: `${f.schema}.outer_v` });
    expect(found.message).toContain('through a view or materialized view that bypasses');
    await sql(`ALTER VIEW ${inner} SET (security_invoker = true)`);
    expect(await brief(db().url, m, 'view-bypasses-rls')).toEqual([]);
    // The reverse: a definer outer view owned by a superuser runs the invoker inner view as itself.
    await sql(`ALTER VIEW ${outer} RESET (security_invoker)`);
    expect(await brief(db().url, m, 'view-bypasses-rls')).toEqual([`error ${f.schema}.notes ${f.schema}.outer_v`]);
    await sql(`ALTER VIEW ${outer} SET (security_invoker = true)`);
    expect(await brief(db().url, m, 'view-bypasses-rls')).toEqual([]);
  });

  it('view-bypasses-rls: a materialized view readable by the app (error), not readable (none)', async () => {
    const f = await make();
    const m = f.manifest();
    const mv = f.q('note_counts');
    await sql(`CREATE MATERIALIZED VIEW ${mv} AS SELECT tenant_id, count(*) FROM ${f.q('notes')} GROUP BY 1;
               GRANT SELECT ON ${mv} TO ${ident(f.app)}`);
    const [found] = await check(db().url, m, 'view-bypasses-rls');
    expect(found).toMatchObject({ severity: 'error', object: `${f.schema}.note_counts` });
    expect(found.message).toContain('materialized view');
    await sql(`REVOKE SELECT ON ${mv} FROM ${ident(f.app)}`);
    expect(await brief(db().url, m, 'view-bypasses-rls')).toEqual([]);
  });

  it('security-definer-function: unpinned (error), pinned but not listed (error), listed (info), not executable (none); hostile names', async () => {
    const schema = `crm "x"; drop.é`;
    const table = `Deal "q"; ${'t'.repeat(40)}`;
    const f = await make({ schema, tables: [table] });
    const fn = `${ident(schema)}.${ident('count notes')}`;
    await sql(`CREATE FUNCTION ${fn}(t integer) RETURNS bigint LANGUAGE sql SECURITY DEFINER
                 AS ${literal(`SELECT count(*) FROM ${f.q(table)} WHERE tenant_id = t`)}`);
    const signature = (await sql(`SELECT ${literal(fn)}::regproc::regprocedure::text AS s`)).rows[0].s as string;
    const m = f.manifest();
    const id = 'security-definer-function';
    const [unpinned] = await check(db().url, m, id);
    expect(unpinned).toMatchObject({ severity: 'error', table: `${schema}.${table}`, object: signature });
    expect(unpinned.message).toContain('search_path is not pinned');
    await sql(`ALTER FUNCTION ${fn}(integer) SET search_path = pg_catalog, pg_temp`);
    expect(await brief(db().url, m, id)).toEqual([`error ${schema}.${table} ${signature}`]);
    const listed = f.manifest({ definer_functions: { 'count notes': 'the tenant switcher counts rows per tenant' } });
    const [info] = await check(db().url, listed, id);
    expect(info).toMatchObject({ severity: 'info', object: signature });
    expect(info.message).toContain('the tenant switcher counts rows per tenant');
    await sql(`REVOKE EXECUTE ON FUNCTION ${fn}(integer) FROM PUBLIC`);
    expect(await brief(db().url, m, id)).toEqual([]);
    // Any definer function the application can execute is reported, even one that names no scoped
    // table: what it reaches is not read from its body (dynamic SQL reaches anything).
    await sql(`CREATE FUNCTION ${ident(schema)}.now_utc() RETURNS timestamp LANGUAGE sql SECURITY DEFINER AS 'SELECT now() AT TIME ZONE ''UTC'''`);
    expect(await brief(db().url, m, id)).toEqual([`error - ${ident(schema)}.now_utc()`]);
    await sql(`REVOKE EXECUTE ON FUNCTION ${ident(schema)}.now_utc() FROM PUBLIC`);
    expect(await brief(db().url, m, id)).toEqual([]);
  });
});

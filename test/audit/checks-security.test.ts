// Two-sided tests of the privilege, ownership, membership, definer, setting, inheritance and bookkeeping checks (issue #12).
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { loadChecks } from '../../src/audit/check-definitions.js';
import { bindNamed, checkParams } from '../../src/audit/sql-params.js';
import type { Manifest } from '../../src/config/manifest.js';
import { ident, literal } from '../../src/db/quote.js';
import { ensureStateSchema } from '../../src/state/state-schema.js';
import { useTestDatabase } from '../support/database.js';
import { brief, check, fixture, SETTING } from './check-helpers.js';

/**
 * Runs one catalog check's SQL on `client` itself, inside whatever transaction it has open: for
 * cluster-wide changes (ALTER ROLE ALL) that a test must never commit on a shared server.
 * The parameters are the ones the runner binds (src/audit/runner.ts).
 */
async function checkInTransaction(client: pg.ClientBase, manifest: Manifest, id: string): Promise<{ object: string | null; message: string }[]> {
  const def = (await loadChecks()).find((c) => c.id === id)!;
  const { text, values } = bindNamed(def.sql, checkParams(manifest));
  return (await client.query<{ object: string | null; message: string }>(text, values)).rows;
}

describe('security checks (issue #12)', () => {
  const db = useTestDatabase();
  const make = (options?: Parameters<typeof fixture>[2]) => fixture(db().client, (p, a) => db().createRole(p, a), options);
  const sql = (text: string) => db().client.query(text);
  /** The test server's superuser (owner of what the tests create). */
  const su = async () => (await sql('SELECT current_user AS u')).rows[0].u as string;

  describe('app-role-table-privilege', () => {
    const ID = 'app-role-table-privilege';

    it('TRUNCATE granted to the app role, TRIGGER to PUBLIC, either through a role it is a member of: found; revoked: gone', async () => {
      const f = await make();
      const m = f.manifest();
      const app = ident(f.app);
      expect(await brief(db().url, m, ID)).toEqual([]);
      await sql(`GRANT TRUNCATE ON ${f.q('notes')} TO ${app}`);
      const [direct] = await check(db().url, m, ID);
      expect(direct).toMatchObject({ severity: 'error', table: `${f.schema}.notes`, object: f.app });
      expect(direct.message).toBe(
        `application role ${f.app} can TRUNCATE (granted to ${f.app}) on ${f.schema}.notes; TRUNCATE empties it for every tenant (row-level security does not apply)`,
      );
      await sql(`REVOKE TRUNCATE ON ${f.q('notes')} FROM ${app}`);
      expect(await brief(db().url, m, ID)).toEqual([]);

      await sql(`GRANT TRIGGER ON ${f.q('tenants')} TO PUBLIC`);
      const [pub] = await check(db().url, m, ID);
      expect(pub).toMatchObject({ severity: 'error', table: `${f.schema}.tenants`, object: f.app });
      expect(pub.message).toContain('TRIGGER (granted to PUBLIC)');
      await sql(`REVOKE TRIGGER ON ${f.q('tenants')} FROM PUBLIC`);
      expect(await brief(db().url, m, ID)).toEqual([]);

      // Through a role the app role is a member of without INHERIT (NOINHERIT first: from PostgreSQL 16 a
      // grant keeps the INHERIT option the member had when it was made): it can still SET ROLE to it.
      const ops = await db().createRole('ops');
      await sql(`ALTER ROLE ${app} NOINHERIT; GRANT TRUNCATE ON ${f.q('notes')} TO ${ident(ops)}; GRANT ${ident(ops)} TO ${app}`);
      const [member] = await check(db().url, m, ID);
      expect(member).toMatchObject({ table: `${f.schema}.notes`, object: f.app });
      expect(member.message).toContain(`TRUNCATE (granted to ${ops}, of which ${f.app} is a member)`);
      await sql(`REVOKE ${ident(ops)} FROM ${app}; ALTER ROLE ${app} INHERIT`);
      expect(await brief(db().url, m, ID)).toEqual([]);
      // A grant to a role the app role is not a member of is not the application's.
      await sql(`GRANT TRUNCATE, TRIGGER ON ${f.q('notes')} TO ${ident(ops)}`);
      expect(await brief(db().url, m, ID)).toEqual([]);
    });

    it('REFERENCES matters only when the app role can build a foreign key (CREATE on a schema, or a table it owns)', async () => {
      const f = await make();
      const m = f.manifest();
      const app = ident(f.app);
      await sql(`GRANT REFERENCES (id) ON ${f.q('notes')} TO ${app}`);
      expect(await brief(db().url, m, ID)).toEqual([]);
      await sql(`GRANT CREATE ON SCHEMA ${ident(f.schema)} TO ${app}`);
      const [found] = await check(db().url, m, ID);
      expect(found).toMatchObject({ severity: 'error', table: `${f.schema}.notes`, object: f.app });
      expect(found.message).toContain('REFERENCES (granted to');
      expect(found.message).toContain('reveals which keys other tenants have');
      await sql(`REVOKE CREATE ON SCHEMA ${ident(f.schema)} FROM ${app}`);
      expect(await brief(db().url, m, ID)).toEqual([]);
      // Table-level REFERENCES and a table the app role owns.
      await sql(`REVOKE REFERENCES (id) ON ${f.q('notes')} FROM ${app}; GRANT REFERENCES ON ${f.q('notes')} TO ${app};
                 CREATE TABLE ${f.q('scratch')} (x int); ALTER TABLE ${f.q('scratch')} OWNER TO ${app}`);
      expect(await brief(db().url, m, ID)).toEqual([`error ${f.schema}.notes ${f.app}`]);
      await sql(`REVOKE REFERENCES ON ${f.q('notes')} FROM ${app}`);
      expect(await brief(db().url, m, ID)).toEqual([]);
    });

    it('a privilege on a partition of a scoped table names the partition', async () => {
      const f = await make();
      await sql(`CREATE TABLE ${f.q('events')} (id int NOT NULL, tenant_id int NOT NULL) PARTITION BY LIST (tenant_id);
                 CREATE TABLE ${f.q('events_1')} PARTITION OF ${f.q('events')} FOR VALUES IN (1);
                 GRANT TRUNCATE ON ${f.q('events_1')} TO ${ident(f.app)}`);
      const m = f.manifest({ tables: { notes: null, events: null } });
      const [found] = await check(db().url, m, ID);
      expect(found).toMatchObject({ severity: 'error', table: `${f.schema}.events`, object: `${f.app} on ${f.schema}.events_1` });
      expect(found.message).toContain(`on partition ${f.schema}.events_1 of ${f.schema}.events`);
      await sql(`REVOKE TRUNCATE ON ${f.q('events_1')} FROM ${ident(f.app)}`);
      expect(await brief(db().url, m, ID)).toEqual([]);
    });
  });

  describe('app-role-owns-table', () => {
    const ID = 'app-role-owns-table';

    it('owned by the app role (even with FORCE), by a role it can SET ROLE to, a partition, the schema: found; given back: gone', async () => {
      const f = await make();
      await sql(`CREATE TABLE ${f.q('events')} (id int NOT NULL, tenant_id int NOT NULL) PARTITION BY LIST (tenant_id);
                 CREATE TABLE ${f.q('events_1')} PARTITION OF ${f.q('events')} FOR VALUES IN (1)`);
      const m = f.manifest({ tables: { notes: null, events: null } });
      const app = ident(f.app);
      expect(await brief(db().url, m, ID)).toEqual([]);
      await sql(`ALTER TABLE ${f.q('notes')} OWNER TO ${app}`);
      const [owner] = await check(db().url, m, ID);
      expect(owner).toMatchObject({ severity: 'error', table: `${f.schema}.notes`, object: f.app });
      expect(owner.message).toBe(
        `application role ${f.app} owns ${f.schema}.notes: it can turn row-level security off (ALTER TABLE … NO FORCE / DISABLE ROW LEVEL SECURITY, DROP POLICY) and read every tenant`,
      );
      await sql(`ALTER TABLE ${f.q('notes')} OWNER TO CURRENT_USER`);
      expect(await brief(db().url, m, ID)).toEqual([]);

      const owners = await db().createRole('owners');
      await sql(`ALTER ROLE ${app} NOINHERIT; ALTER TABLE ${f.q('tenants')} OWNER TO ${ident(owners)}; GRANT ${ident(owners)} TO ${app}`);
      const [member] = await check(db().url, m, ID);
      expect(member).toMatchObject({ table: `${f.schema}.tenants`, object: f.app });
      expect(member.message).toContain(`is a member of ${owners} (it can SET ROLE to it), which owns ${f.schema}.tenants`);
      await sql(`REVOKE ${ident(owners)} FROM ${app}; ALTER ROLE ${app} INHERIT`);
      expect(await brief(db().url, m, ID)).toEqual([]);

      await sql(`ALTER TABLE ${f.q('events_1')} OWNER TO ${app}`);
      expect(await brief(db().url, m, ID)).toEqual([`error ${f.schema}.events ${f.app} on ${f.schema}.events_1`]);
      await sql(`ALTER TABLE ${f.q('events_1')} OWNER TO CURRENT_USER`);

      await sql(`ALTER SCHEMA ${ident(f.schema)} OWNER TO ${app}`);
      const [schema] = await check(db().url, m, ID);
      expect(schema).toMatchObject({ table: null, object: `${f.app} on schema ${f.schema}` });
      expect(schema.message).toContain('may drop every table in it');
      await sql(`ALTER SCHEMA ${ident(f.schema)} OWNER TO CURRENT_USER`);
      expect(await brief(db().url, m, ID)).toEqual([]);
    });
  });

  describe('app-role-bypasses-rls (membership paths)', () => {
    const ID = 'app-role-bypasses-rls';

    it('SET ROLE to a superuser, REPLICATION (own or reachable), pg_execute_server_program, CREATEROLE before 16: found; revoked: gone', async () => {
      const f = await make();
      const m = f.manifest();
      const app = ident(f.app);
      expect(await brief(db().url, m, ID)).toEqual([]);
      const root = await db().createRole('root', 'SUPERUSER');
      await sql(`GRANT ${ident(root)} TO ${app}`);
      expect((await check(db().url, m, ID)).map((x) => x.message)).toEqual([
        `application role ${f.app} can SET ROLE to ${root}, which is a superuser`,
      ]);
      await sql(`REVOKE ${ident(root)} FROM ${app}`);
      expect(await brief(db().url, m, ID)).toEqual([]);

      await sql(`ALTER ROLE ${app} REPLICATION`);
      expect((await check(db().url, m, ID)).map((x) => x.message)).toEqual([
        `application role ${f.app} has REPLICATION: logical decoding shows every tenant's writes`,
      ]);
      await sql(`ALTER ROLE ${app} NOREPLICATION`);
      const repl = await db().createRole('repl', 'REPLICATION');
      await sql(`GRANT ${ident(repl)} TO ${app}`);
      expect(await brief(db().url, m, ID)).toEqual([`error - ${f.app}`]);
      await sql(`REVOKE ${ident(repl)} FROM ${app}`);
      expect(await brief(db().url, m, ID)).toEqual([]);

      await sql(`GRANT pg_execute_server_program TO ${app}`);
      expect((await check(db().url, m, ID)).map((x) => x.message)).toEqual([
        `application role ${f.app} is a member of pg_execute_server_program: it runs programs as the server's operating-system user`,
      ]);
      await sql(`REVOKE pg_execute_server_program FROM ${app}`);
      expect(await brief(db().url, m, ID)).toEqual([]);

      const version = Number((await sql(`SELECT current_setting('server_version_num') AS v`)).rows[0].v);
      await sql(`ALTER ROLE ${app} CREATEROLE`);
      // PostgreSQL 16 confined CREATEROLE to the roles it created; before, it reaches every non-superuser role.
      expect(await brief(db().url, m, ID)).toEqual(version < 160000 ? [`error - ${f.app}`] : []);
      await sql(`ALTER ROLE ${app} NOCREATEROLE`);
      expect(await brief(db().url, m, ID)).toEqual([]);
    });
  });

  describe('security-definer-function', () => {
    const ID = 'security-definer-function';

    it('dynamic SQL in another schema, pinned but not listed: error; listed: info; not executable: none', async () => {
      const f = await make();
      const util = `u_${randomBytes(3).toString('hex')}`;
      const fn = `${ident(util)}.row_count`;
      await sql(`CREATE SCHEMA ${ident(util)}; GRANT USAGE ON SCHEMA ${ident(util)} TO PUBLIC;
        CREATE FUNCTION ${fn}(t text) RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
          AS ${literal(`DECLARE n bigint; BEGIN EXECUTE format('SELECT count(*) FROM %I.%I', ${literal(f.schema)}, t) INTO n; RETURN n; END`)}`);
      const m = f.manifest();
      const [found] = await check(db().url, m, ID);
      expect(found).toMatchObject({ severity: 'error', table: null, object: `${util}.row_count(text)` });
      expect(found.message).toBe(
        `SECURITY DEFINER function ${util}.row_count(text) (owner ${await su()}, who bypasses row-level security) can be executed by ${f.app}; it runs dynamic SQL (EXECUTE): any table, whatever its body names; not listed under definer_functions`,
      );
      const listed = f.manifest({ definer_functions: { row_count: 'admin dashboard, counts per table' } });
      const [info] = await check(db().url, listed, ID);
      expect(info).toMatchObject({ severity: 'info', object: `${util}.row_count(text)` });
      expect(info.message).toContain('allowed by the manifest: admin dashboard, counts per table');
      // Listed but unpinned: still an error.
      await sql(`ALTER FUNCTION ${fn}(text) RESET search_path`);
      const [unpinned] = await check(db().url, listed, ID);
      expect(unpinned.severity).toBe('error');
      expect(unpinned.message).toContain('listed under definer_functions, but its search_path is not pinned');
      await sql(`REVOKE EXECUTE ON FUNCTION ${fn}(text) FROM PUBLIC`);
      expect(await brief(db().url, m, ID)).toEqual([]);
      // Executable through a role the app role is a member of (NOINHERIT: by SET ROLE).
      const ops = await db().createRole('fnops');
      await sql(`ALTER ROLE ${ident(f.app)} NOINHERIT; GRANT EXECUTE ON FUNCTION ${fn}(text) TO ${ident(ops)}; GRANT ${ident(ops)} TO ${ident(f.app)}`);
      expect(await brief(db().url, m, ID)).toEqual([`error - ${util}.row_count(text)`]);
      await sql(`REVOKE ${ident(ops)} FROM ${ident(f.app)}; ALTER ROLE ${ident(f.app)} INHERIT`);
      expect(await brief(db().url, m, ID)).toEqual([]);
      await sql(`DROP SCHEMA ${ident(util)} CASCADE`); // definer functions are seen database-wide
    });

    it('a definer function returning SETOF a scoped table: error naming the table; SECURITY INVOKER: none; owned by the app role: none', async () => {
      const f = await make();
      const fn = f.q('all_notes');
      await sql(`CREATE FUNCTION ${fn}() RETURNS SETOF ${f.q('notes')} LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
                   AS ${literal(`SELECT * FROM ${f.q('notes')}`)}`);
      const m = f.manifest();
      const [found] = await check(db().url, m, ID);
      expect(found).toMatchObject({ severity: 'error', table: `${f.schema}.notes`, object: `${f.schema}.all_notes()` });
      expect(found.message).toContain('; it touches notes; not listed under definer_functions');
      await sql(`ALTER FUNCTION ${fn}() SECURITY INVOKER`);
      expect(await brief(db().url, m, ID)).toEqual([]);
      // Running as the app role itself gives it nothing it does not have.
      await sql(`ALTER FUNCTION ${fn}() SECURITY DEFINER; ALTER FUNCTION ${fn}() OWNER TO ${ident(f.app)}`);
      expect(await brief(db().url, m, ID)).toEqual([]);
      await sql(`DROP FUNCTION ${fn}()`); // definer functions are seen database-wide
    });

    it('a definer trigger function on a table the app role writes: error naming function and table; invoker: none', async () => {
      const f = await make();
      const fn = f.q('copy_note');
      await sql(`CREATE TABLE ${f.q('note_copies')} (id int, tenant_id int, body text);
        GRANT SELECT ON ${f.q('note_copies')} TO ${ident(f.app)};
        CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
          AS ${literal(`BEGIN INSERT INTO ${f.q('note_copies')} VALUES (NEW.id, NEW.tenant_id, NEW.body); RETURN NEW; END`)};
        CREATE TRIGGER copy_note AFTER INSERT ON ${f.q('notes')} FOR EACH ROW EXECUTE FUNCTION ${fn}()`);
      const m = f.manifest();
      const [found] = await check(db().url, m, ID);
      expect(found).toMatchObject({ severity: 'error', table: `${f.schema}.notes`, object: `${f.schema}.copy_note() on ${f.schema}.notes` });
      expect(found.message).toContain(`SECURITY DEFINER trigger function ${f.schema}.copy_note() (owner ${await su()}, who bypasses row-level security) fires on writes to ${f.schema}.notes, which ${f.app} can write`);
      // The trigger fires on writes, whatever EXECUTE says.
      await sql(`REVOKE EXECUTE ON FUNCTION ${fn}() FROM PUBLIC`);
      expect(await brief(db().url, m, ID)).toEqual([`error ${f.schema}.notes ${f.schema}.copy_note() on ${f.schema}.notes`]);
      await sql(`ALTER TABLE ${f.q('notes')} DISABLE TRIGGER copy_note`);
      expect(await brief(db().url, m, ID)).toEqual([]);
      await sql(`ALTER TABLE ${f.q('notes')} ENABLE TRIGGER copy_note; ALTER FUNCTION ${fn}() SECURITY INVOKER`);
      expect(await brief(db().url, m, ID)).toEqual([]);
      await sql(`DROP FUNCTION ${fn}() CASCADE`);
    });
  });

  describe('tenant-setting-default', () => {
    const ID = 'tenant-setting-default';

    it('ALTER ROLE (in the database or everywhere), ALTER DATABASE, a login member of the app role: found; RESET: gone', async () => {
      const f = await make();
      const m = f.manifest();
      const app = ident(f.app);
      const dbName = ident(db().name);
      const set = `${ident(SETTING.split('.')[0])}.${ident(SETTING.split('.')[1])}`;
      expect(await brief(db().url, m, ID)).toEqual([]);

      await sql(`ALTER ROLE ${app} IN DATABASE ${dbName} SET ${set} = '1'`);
      const [inDb] = await check(db().url, m, ID);
      expect(inDb).toMatchObject({ severity: 'error', table: null, object: `${f.app} in database ${db().name}` });
      expect(inDb.message).toBe(
        `ALTER ROLE ${f.app} IN DATABASE ${db().name} SET ${SETTING} = '1': a session of ${f.app} that sets no tenant sees tenant 1's rows instead of none`,
      );
      await sql(`ALTER ROLE ${app} IN DATABASE ${dbName} RESET ${set}`);
      expect(await brief(db().url, m, ID)).toEqual([]);

      await sql(`ALTER ROLE ${app} SET ${set} = '2'`);
      expect(await brief(db().url, m, ID)).toEqual([`error - ${f.app}`]);
      await sql(`ALTER ROLE ${app} RESET ${set}`);

      await sql(`ALTER DATABASE ${dbName} SET ${set} = '1'`);
      const [database] = await check(db().url, m, ID);
      expect(database).toMatchObject({ object: `database ${db().name}` });
      expect(database.message).toContain(`ALTER DATABASE ${db().name} (or ALTER ROLE ALL IN DATABASE ${db().name}) SET`);
      await sql(`ALTER DATABASE ${dbName} RESET ${set}`);
      expect(await brief(db().url, m, ID)).toEqual([]);

      // The application logs in as a member of the app role: its own defaults apply at login.
      const web = await db().createRole('web');
      await sql(`GRANT ${app} TO ${ident(web)}; ALTER ROLE ${ident(web)} IN DATABASE ${dbName} SET ${set} = '1'`);
      const [member] = await check(db().url, m, ID);
      expect(member).toMatchObject({ object: `${web} in database ${db().name}` });
      expect(member.message).toContain(`a session of ${web} (a member of an application role)`);
      // An empty default reads as "no tenant" (nullif): harmless, not reported.
      await sql(`ALTER ROLE ${ident(web)} IN DATABASE ${dbName} SET ${set} = ''`);
      expect(await brief(db().url, m, ID)).toEqual([]);
      // Another setting is not the tenant's.
      await sql(`ALTER ROLE ${app} IN DATABASE ${dbName} SET app.other = '1'`);
      expect(await brief(db().url, m, ID)).toEqual([]);
      await sql(`ALTER ROLE ${app} IN DATABASE ${dbName} RESET ALL; ALTER ROLE ${ident(web)} IN DATABASE ${dbName} RESET ALL`);
    });

    it('ALTER ROLE ALL SET (every role, every database): found, inside a transaction that is rolled back', async () => {
      const f = await make();
      const m = f.manifest();
      const c = await db().connect();
      const set = `${ident(SETTING.split('.')[0])}.${ident(SETTING.split('.')[1])}`;
      await c.query('BEGIN');
      try {
        await c.query(`SET LOCAL lock_timeout = '5s'`);
        expect(await checkInTransaction(c, m, ID)).toEqual([]);
        await c.query(`ALTER ROLE ALL SET ${set} = '7'`);
        const found = await checkInTransaction(c, m, ID);
        expect(found.map((x) => x.object)).toEqual(['ALL']);
        expect(found[0].message).toBe(`ALTER ROLE ALL SET ${SETTING} = '7': a session of any role that sets no tenant sees tenant 7's rows instead of none`);
      } finally {
        await c.query('ROLLBACK');
      }
      expect(await checkInTransaction(c, m, ID)).toEqual([]);
    });
  });

  describe('inheritance-child', () => {
    const ID = 'inheritance-child';

    it('a readable child (and grandchild) without forced RLS: found; forced, or not readable: gone', async () => {
      const f = await make();
      const m = f.manifest();
      const app = ident(f.app);
      const child = f.q('notes_old');
      await sql(`CREATE TABLE ${child} () INHERITS (${f.q('notes')})`);
      expect(await brief(db().url, m, ID)).toEqual([]); // not readable by the app role
      await sql(`GRANT SELECT ON ${child} TO ${app}`);
      const [found] = await check(db().url, m, ID);
      expect(found).toMatchObject({ severity: 'error', table: `${f.schema}.notes`, object: `${f.schema}.notes_old` });
      expect(found.message).toBe(
        `${f.schema}.notes_old inherits from ${f.schema}.notes and has no row-level security; ${f.app} can SELECT it: queried by its own name it shows every tenant's rows`,
      );
      await sql(`ALTER TABLE ${child} ENABLE ROW LEVEL SECURITY`);
      expect((await check(db().url, m, ID))[0].message).toContain('has row-level security not forced');
      await sql(`ALTER TABLE ${child} FORCE ROW LEVEL SECURITY`);
      expect(await brief(db().url, m, ID)).toEqual([]);
      // A grandchild, written to through a role the app role is a member of.
      const ops = await db().createRole('inhops');
      await sql(`CREATE TABLE ${f.q('notes_older')} () INHERITS (${child});
                 GRANT INSERT ON ${f.q('notes_older')} TO ${ident(ops)}; GRANT ${ident(ops)} TO ${app}`);
      expect(await brief(db().url, m, ID)).toEqual([`error ${f.schema}.notes ${f.schema}.notes_older`]);
      await sql(`REVOKE ${ident(ops)} FROM ${app}`);
      expect(await brief(db().url, m, ID)).toEqual([]);
      // A child the manifest lists as scoped is left to rls-disabled and the other checks.
      await sql(`ALTER TABLE ${child} NO FORCE ROW LEVEL SECURITY`);
      expect(await brief(db().url, m, ID)).toEqual([`error ${f.schema}.notes ${f.schema}.notes_old`]);
      expect(await brief(db().url, f.manifest({ tables: { notes: null, notes_old: null } }), ID)).toEqual([]);
    });

    it('a declarative partition is not an inheritance child (partition-without-rls covers it)', async () => {
      const f = await make();
      await sql(`CREATE TABLE ${f.q('events')} (id int NOT NULL, tenant_id int NOT NULL) PARTITION BY LIST (tenant_id);
                 CREATE TABLE ${f.q('events_1')} PARTITION OF ${f.q('events')} FOR VALUES IN (1);
                 GRANT SELECT ON ${f.q('events_1')} TO ${ident(f.app)}`);
      const m = f.manifest({ tables: { notes: null, events: null } });
      expect(await brief(db().url, m, ID)).toEqual([]);
      expect(await brief(db().url, m, 'partition-without-rls')).toEqual([`error ${f.schema}.events ${f.schema}.events_1`]);
    });
  });

  describe('state-schema-exposed', () => {
    const ID = 'state-schema-exposed';

    it('USAGE plus a table privilege (direct, PUBLIC, pg_read_all_data), CREATE on the schema: found; revoked: gone', async () => {
      const f = await make();
      const state = `st_${randomBytes(3).toString('hex')}`;
      await ensureStateSchema(db().client, state);
      const m = f.manifest({ state_schema: state });
      const app = ident(f.app);
      const table = `${ident(state)}.state_migrations`;
      expect(await brief(db().url, m, ID)).toEqual([]);
      // A table privilege without USAGE on the schema is unusable; USAGE alone reads nothing.
      await sql(`GRANT SELECT ON ${table} TO ${app}`);
      expect(await brief(db().url, m, ID)).toEqual([]);
      await sql(`GRANT USAGE ON SCHEMA ${ident(state)} TO PUBLIC`);
      const [found] = await check(db().url, m, ID);
      expect(found).toMatchObject({ severity: 'error', table: null, object: `${state}.state_migrations` });
      expect(found.message).toBe(
        `bookkeeping table ${state}.state_migrations (no row-level security; archived rows of every tenant) is open to ${f.app} (SELECT)`,
      );
      await sql(`REVOKE SELECT ON ${table} FROM ${app}; GRANT INSERT ON ${table} TO PUBLIC`);
      expect((await check(db().url, m, ID)).map((x) => x.message)).toEqual([
        `bookkeeping table ${state}.state_migrations (no row-level security; archived rows of every tenant) is open to ${f.app} (INSERT)`,
      ]);
      await sql(`REVOKE INSERT ON ${table} FROM PUBLIC`);
      expect(await brief(db().url, m, ID)).toEqual([]);
      // pg_read_all_data reads every table of every schema.
      await sql(`GRANT pg_read_all_data TO ${app}`);
      const all = await sql(`SELECT format('error - %s.%s', n.nspname, c.relname) AS f FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                WHERE n.nspname = ${literal(state)} AND c.relkind IN ('r', 'p', 'v', 'm')`);
      expect(all.rows.length).toBeGreaterThan(5); // dedupe_archive, runs, …
      expect(await brief(db().url, m, ID)).toEqual(all.rows.map((r) => r.f as string).sort());
      await sql(`REVOKE pg_read_all_data FROM ${app}`);
      expect(await brief(db().url, m, ID)).toEqual([]);
      await sql(`GRANT CREATE ON SCHEMA ${ident(state)} TO ${app}`);
      const [create] = await check(db().url, m, ID);
      expect(create).toMatchObject({ object: state });
      expect(create.message).toContain(`can CREATE in the bookkeeping schema ${state}`);
      await sql(`REVOKE CREATE ON SCHEMA ${ident(state)} FROM ${app}; REVOKE USAGE ON SCHEMA ${ident(state)} FROM PUBLIC`);
      expect(await brief(db().url, m, ID)).toEqual([]);
      // No bookkeeping schema at all: nothing to report.
      expect(await brief(db().url, f.manifest({ state_schema: `${state}_none` }), ID)).toEqual([]);
    });
  });
});

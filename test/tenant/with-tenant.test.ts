// withTenant on a pooled connection: a session SET leaks into the next transaction; set_config(…, true) does not.
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ident } from '../../src/db/quote.js';
import { citusSetSql, tenantText, withTenant } from '../../src/tenant/with-tenant.js';
import { useTestDatabase } from '../support/database.js';

const SETTING = 'app.current_org_id';

describe('withTenant', () => {
  const db = useTestDatabase();
  let pool: pg.Pool;
  let kysely: Kysely<{ notes: { id: number; org_id: string; body: string } }>;

  beforeAll(async () => {
    const c = db().client;
    const app = await db().createRole('tenant_app');
    // A small CRM-like schema of its own: organizations / org_id uuid.
    await c.query(`CREATE TABLE organizations (id uuid PRIMARY KEY, name text NOT NULL)`);
    await c.query(`CREATE TABLE notes (id serial PRIMARY KEY, org_id uuid NOT NULL REFERENCES organizations, body text NOT NULL)`);
    await c.query(`INSERT INTO organizations VALUES ('00000000-0000-0000-0000-00000000000a', 'a'), ('00000000-0000-0000-0000-00000000000b', 'b')`);
    await c.query(`INSERT INTO notes (org_id, body) SELECT CASE WHEN g <= 3 THEN '00000000-0000-0000-0000-00000000000a'::uuid ELSE '00000000-0000-0000-0000-00000000000b'::uuid END, 'n' || g FROM generate_series(1, 5) g`);
    await c.query(`ALTER TABLE notes ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY`);
    await c.query(
      `CREATE POLICY tenant_isolation ON notes FOR ALL TO ${ident(app)}
         USING (org_id = (SELECT nullif(current_setting('${SETTING}', true), '')::uuid))`,
    );
    await c.query(`GRANT SELECT, INSERT ON notes TO ${ident(app)}; GRANT USAGE ON SEQUENCE notes_id_seq TO ${ident(app)}`);
    // One connection: every checkout gets the same server session, as behind a pooler.
    pool = new pg.Pool({ connectionString: db().urlFor(app), max: 1 });
    kysely = new Kysely({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: db().urlFor(app), max: 1 }) }) });
  });
  afterAll(async () => {
    await pool?.end();
    await kysely?.destroy();
  });

  const A = '00000000-0000-0000-0000-00000000000a';
  const B = '00000000-0000-0000-0000-00000000000b';
  const count = async (client: pg.ClientBase) => Number((await client.query('SELECT count(*) AS n FROM notes')).rows[0].n);

  it('a session-level SET leaks into the next transaction on the pooled connection', async () => {
    const first = await pool.connect();
    await first.query(`SET ${SETTING} = '${A}'`); // the bug: session level
    first.release();
    const next = await pool.connect(); // "another request"
    try {
      expect(await count(next)).toBe(3); // it sees tenant A's rows without setting anything
      await next.query(`RESET ${SETTING}`);
      expect(await count(next)).toBe(0);
    } finally {
      next.release();
    }
  });

  it('withTenant (pg.Pool) scopes the tenant to its transaction: nothing leaks', async () => {
    const seen = await withTenant(pool, A, (client) => count(client), { setting: SETTING });
    expect(seen).toBe(3);
    const next = await pool.connect();
    try {
      expect(await count(next)).toBe(0); // no tenant after COMMIT: fail closed, no error
      const { rows } = await next.query(`SELECT current_setting($1, true) AS v`, [SETTING]);
      expect(rows[0].v === null || rows[0].v === '').toBe(true);
    } finally {
      next.release();
    }
  });

  it('rolls back when fn throws, and still leaks nothing', async () => {
    await expect(
      withTenant(
        pool,
        A,
        async (client) => {
          await client.query(`INSERT INTO notes (org_id, body) VALUES ($1, 'rolled back')`, [A]);
          throw new Error('boom');
        },
        { setting: SETTING },
      ),
    ).rejects.toThrow('boom');
    expect(await withTenant(pool, A, (client) => count(client), { setting: SETTING })).toBe(3);
    const next = await pool.connect();
    try {
      expect(await count(next)).toBe(0);
    } finally {
      next.release();
    }
  });

  it('works with a Kysely instance', async () => {
    const rows = await withTenant(kysely, A, (trx) => trx.selectFrom('notes').select('body').orderBy('id').execute(), { setting: SETTING });
    expect(rows.map((r) => r.body)).toEqual(['n1', 'n2', 'n3']);
    const after = await sql<{ n: string }>`SELECT count(*) AS n FROM notes`.execute(kysely);
    expect(Number(after.rows[0].n)).toBe(0);
    // A write for another tenant is rejected inside withTenant (the policy's USING doubles as WITH CHECK).
    await expect(
      withTenant(kysely, A, (trx) => trx.insertInto('notes').values({ org_id: '00000000-0000-0000-0000-00000000000b', body: 'x' } as never).execute(), {
        setting: SETTING,
      }),
    ).rejects.toThrow(/row-level security/);
  });

  /** What the next user of the one pooled connection sees without setting anything. */
  const nextUser = async () => {
    const next = await pool.connect();
    try {
      const { rows } = await next.query(`SELECT current_setting($1, true) AS v`, [SETTING]);
      return { rows: await count(next), setting: rows[0].v as string | null };
    } finally {
      next.release();
    }
  };

  it('a session-level set_config(…, false) inside fn does not survive: the next user sees no tenant', async () => {
    const seen = await withTenant(
      pool,
      A,
      async (client) => {
        await client.query('SELECT set_config($1, $2, false)', [SETTING, B]); // session level: outlives COMMIT
        return count(client);
      },
      { setting: SETTING },
    );
    expect(seen).toBe(2); // inside fn, the session value for B took over
    expect(await nextUser()).toEqual({ rows: 0, setting: '' });
  });

  it('an early COMMIT inside fn, then a session-level tenant, does not leak either', async () => {
    const result = await withTenant(
      pool,
      A,
      async (client) => {
        await client.query('COMMIT'); // ends withTenant's transaction early: the local setting is gone
        expect(await count(client)).toBe(0);
        await client.query(`SET ${SETTING} = '${A}'`); // the "fix" someone writes next: session level
        await client.query('BEGIN'); // and a transaction left open for withTenant's COMMIT
        return count(client);
      },
      { setting: SETTING },
    );
    expect(result).toBe(3);
    expect(await nextUser()).toEqual({ rows: 0, setting: '' });
    // The pool still works normally afterwards.
    expect(await withTenant(pool, B, (client) => count(client), { setting: SETTING })).toBe(2);
  });

  it('Kysely: a session-level set inside fn does not reach the next query on the connection', async () => {
    const rows = await withTenant(
      kysely,
      A,
      async (trx) => {
        await sql`SELECT set_config(${SETTING}, ${B}, false)`.execute(trx);
        return trx.selectFrom('notes').select('body').execute();
      },
      { setting: SETTING },
    );
    expect(rows).toHaveLength(2);
    const after = await sql<{ n: string; v: string }>`SELECT count(*) AS n, current_setting(${SETTING}, true) AS v FROM notes`.execute(kysely);
    expect(after.rows[0]).toEqual({ n: '0', v: '' });
  });

  it('rejects a missing, empty or ill-typed tenant id before any query', async () => {
    // A pool that cannot connect: had withTenant queried first, the error would be ECONNREFUSED.
    const nowhere = new pg.Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/nowhere', max: 1 });
    try {
      const fn = async () => 'ran';
      for (const bad of [null, undefined, '', '   ', 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, {}, true]) {
        await expect(withTenant(nowhere, bad as never, fn), `tenant ${String(bad)}`).rejects.toThrow(TypeError);
      }
      await expect(withTenant(nowhere, 'abc', fn, { keyType: 'integer' })).rejects.toThrow(/integer/);
      await expect(withTenant(nowhere, '12; --', fn, { keyType: 'integer' })).rejects.toThrow(TypeError);
      await expect(withTenant(nowhere, '42', fn, { keyType: 'uuid' })).rejects.toThrow(/uuid/);
      await expect(withTenant(nowhere, null as never, fn)).rejects.toThrow('withTenant: the tenant id is null');
      expect(nowhere.totalCount).toBe(0);
      // Valid ids pass the check (and only then does the connection fail).
      await expect(withTenant(nowhere, 42, fn, { keyType: 'integer' })).rejects.toThrow(/ECONNREFUSED|connect/);
    } finally {
      await nowhere.end();
    }
    expect([tenantText(42), tenantText(42n), tenantText('42', 'integer'), tenantText(A, 'uuid'), tenantText('acme')]).toEqual([
      '42',
      '42',
      '42',
      A,
      'acme',
    ]);
    // The real pool is untouched by the refusals and works.
    expect(await withTenant(pool, A, (client) => count(client), { setting: SETTING, keyType: 'uuid' })).toBe(3);
  });
  // The Citus form (options.citus): SET LOCAL instead of set_config. It also works on plain
  // PostgreSQL (test/citus/with-tenant-citus.test.ts runs it on a real cluster).
  it('citus: true sets the tenant with SET LOCAL, transaction-local: same rows, nothing leaks (pg.Pool and Kysely)', async () => {
    expect(await withTenant(pool, A, (client) => count(client), { setting: SETTING, citus: true })).toBe(3);
    expect(await nextUser()).toEqual({ rows: 0, setting: '' });
    const seen = await withTenant(
      pool,
      B,
      async (client) => {
        const { rows } = await client.query(`SELECT current_setting('citus.propagate_set_commands', true) AS p, current_setting($1) AS v`, [SETTING]);
        return { n: await count(client), ...rows[0] };
      },
      { setting: SETTING, citus: true, keyType: 'uuid' },
    );
    expect(seen).toEqual({ n: 2, p: 'local', v: B });
    // Both SET LOCALs died with the transaction.
    const next = await pool.connect();
    try {
      const { rows } = await next.query(`SELECT current_setting('citus.propagate_set_commands', true) AS p`);
      expect(rows[0].p ?? '').toBe('');
    } finally {
      next.release();
    }
    const rows = await withTenant(kysely, A, (trx) => trx.selectFrom('notes').select('body').orderBy('id').execute(), { setting: SETTING, citus: true });
    expect(rows.map((r) => r.body)).toEqual(['n1', 'n2', 'n3']);
    await expect(
      withTenant(kysely, A, (trx) => trx.insertInto('notes').values({ org_id: B, body: 'x' } as never).execute(), { setting: SETTING, citus: true }),
    ).rejects.toThrow(/row-level security/);
  });

  it('citus: true prints the tenant as a quoted literal and the setting as a quoted identifier: hostile values stay values', async () => {
    expect(citusSetSql('app.current_company_id', "o'brien")).toEqual([
      `SET LOCAL citus.propagate_set_commands = 'local'`,
      `SET LOCAL "app.current_company_id" = 'o''brien'`,
    ]);
    expect(citusSetSql('app.x', 'a\\nb')[1]).toBe(`SET LOCAL "app.x" = 'a\\nb'`); // a backslash stays as it is (standard strings)
    expect(citusSetSql('app.x', 'a\nb')[1]).toBe(`SET LOCAL "app.x" = E'a\\nb'`); // a real line break: an escape string
    // Each hostile tenant is read back exactly as given (a text setting), and nothing else ran.
    const hostile = ["x'; DROP TABLE notes; --", "'' OR true --", 'a\\b', "new\nline'", '$$; SELECT 1; $$', 'U&"x"'];
    for (const value of hostile) {
      const back = await withTenant(pool, value, async (client) => (await client.query(`SELECT current_setting($1) AS v`, [SETTING])).rows[0].v, {
        setting: SETTING,
        citus: true,
      });
      expect(back, JSON.stringify(value)).toBe(value);
    }
    expect(await withTenant(pool, A, (client) => count(client), { setting: SETTING, citus: true })).toBe(3); // notes still there
    // A hostile setting name is one quoted identifier: the server refuses it as a name, nothing runs.
    await expect(withTenant(pool, A, async () => 'ran', { setting: 'app.x" = \'1\'; DROP TABLE notes; --', citus: true })).rejects.toThrow(
      /invalid configuration parameter name|unrecognized configuration parameter/,
    );
    await expect(withTenant(pool, 'a\u0000b', async () => 'ran', { setting: SETTING, citus: true })).rejects.toThrow(TypeError);
    expect(await withTenant(pool, A, (client) => count(client), { setting: SETTING, citus: true })).toBe(3);
  });
});

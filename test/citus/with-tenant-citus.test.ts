// withTenant on a real Citus cluster (CITUS_URL): the tenant reaches the workers only through the `citus: true` form.
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ident, literal, qualified } from '../../src/db/quote.js';
import { withTenant } from '../../src/tenant/with-tenant.js';
import { describeCitus, useCitusSchema } from './cluster-schema.js';

const SETTING = 'app.current_company_id';

describeCitus('withTenant on Citus', () => {
  const cluster = useCitusSchema('wt');
  let pool: pg.Pool;
  let deals: string;
  let notes: string;
  // Tenants 1..6: their shards are spread over both workers.
  const perTenant = (c: number) => c + 1;

  beforeAll(async () => {
    const { client, schema } = cluster();
    const app = await cluster().createRole('wt_app');
    deals = qualified(schema, 'deals');
    notes = qualified(schema, 'notes');
    const companies = qualified(schema, 'companies');
    const policy = (table: string, column: string, type: string) =>
      // Citus refuses a scalar subquery in a policy on a distributed table: the plain STABLE expression.
      `CREATE POLICY tenant_isolation ON ${table} TO ${ident(app)} USING (${ident(column)} = nullif(current_setting(${literal(SETTING)}, true), '')::${type})`;
    await client.query(`CREATE TABLE ${companies} (id int PRIMARY KEY, name text NOT NULL)`);
    await client.query(`SELECT create_reference_table($1)`, [companies]);
    await client.query(`INSERT INTO ${companies} SELECT g, 'c' || g FROM generate_series(1, 6) g`);
    await client.query(
      `CREATE TABLE ${deals} (company_id int NOT NULL REFERENCES ${companies}, id bigint NOT NULL, title text NOT NULL, PRIMARY KEY (company_id, id))`,
    );
    await client.query(`SELECT create_distributed_table($1, 'company_id')`, [deals]);
    await client.query(`INSERT INTO ${deals} SELECT c, c * 100 + i, 'd' FROM generate_series(1, 6) c, generate_series(1, c + 1) i`);
    // A text tenant key, for the hostile values.
    await client.query(`CREATE TABLE ${notes} (company_id text NOT NULL, id int NOT NULL, PRIMARY KEY (company_id, id))`);
    await client.query(`SELECT create_distributed_table($1, 'company_id')`, [notes]);
    await client.query(`INSERT INTO ${notes} VALUES ($1, 1), ($1, 2), ($2, 1), ('other', 1)`, ["o'brien", "x'; DROP TABLE notes; --"]);
    for (const [table, column, type] of [
      [deals, 'company_id', 'integer'],
      [notes, 'company_id', 'text'],
    ]) {
      await client.query(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY`);
      await client.query(policy(table, column, type));
    }
    await client.query(`GRANT USAGE ON SCHEMA ${ident(schema)} TO ${ident(app)}`);
    await client.query(`GRANT SELECT, INSERT ON ${deals}, ${notes} TO ${ident(app)}`);
    // The application logs in as the role itself (Citus opens its worker connections as that role).
    pool = new pg.Pool({ connectionString: cluster().urlFor(app), max: 1 });
  });
  afterAll(async () => {
    await pool?.end();
  });

  const count = async (client: pg.ClientBase, table = deals) => Number((await client.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);

  it('with set_config (the default form) the application role sees 0 rows: Citus does not forward set_config() to the workers', async () => {
    // The policy is evaluated on the workers' shards, where app.current_company_id was never set.
    expect(await withTenant(pool, 3, (client) => count(client), { setting: SETTING })).toBe(0);
    // Nor does a SET LOCAL alone: without citus.propagate_set_commands = 'local' it stays on the coordinator.
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL ${ident(SETTING)} = '3'`);
      expect(await count(client)).toBe(0);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
  });

  it('with citus: true each tenant sees exactly its own rows, on every worker', async () => {
    for (let c = 1; c <= 6; c++) {
      const seen = await withTenant(
        pool,
        c,
        async (client) => {
          const all = (await client.query(`SELECT count(*) AS n, count(*) FILTER (WHERE company_id <> $1) AS foreign FROM ${deals}`, [c])).rows[0];
          const routed = Number((await client.query(`SELECT count(*) AS n FROM ${deals} WHERE company_id = $1`, [c])).rows[0].n);
          return { n: Number(all.n), foreign: Number(all.foreign), routed };
        },
        { setting: SETTING, citus: true, keyType: 'integer' },
      );
      expect(seen, `tenant ${c}`).toEqual({ n: perTenant(c), foreign: 0, routed: perTenant(c) });
    }
    // Nothing leaks to the next user of the pooled connection.
    const next = await pool.connect();
    try {
      expect(await count(next)).toBe(0);
    } finally {
      next.release();
    }
  });

  it("with citus: true an insert for the tenant passes WITH CHECK; another tenant's is refused by row-level security", async () => {
    const inserted = await withTenant(
      pool,
      2,
      async (client) => (await client.query(`INSERT INTO ${deals} (company_id, id, title) VALUES (2, 999, 'new')`)).rowCount,
      { setting: SETTING, citus: true },
    );
    expect(inserted).toBe(1);
    expect(await withTenant(pool, 2, (client) => count(client), { setting: SETTING, citus: true })).toBe(perTenant(2) + 1);
    await expect(
      withTenant(pool, 2, (client) => client.query(`INSERT INTO ${deals} (company_id, id, title) VALUES (5, 998, 'x')`), { setting: SETTING, citus: true }),
    ).rejects.toThrow(/row-level security/);
    // And without the Citus form the insert of the tenant's own row is refused too (the workers see no tenant).
    await expect(
      withTenant(pool, 2, (client) => client.query(`INSERT INTO ${deals} (company_id, id, title) VALUES (2, 997, 'x')`), { setting: SETTING }),
    ).rejects.toThrow(/row-level security/);
    await cluster().client.query(`DELETE FROM ${deals} WHERE id = 999`);
  });

  it('hostile text tenants reach the workers as values, exactly as given', async () => {
    for (const [tenant, n] of [
      ["o'brien", 2],
      ["x'; DROP TABLE notes; --", 1],
      ["' OR true --", 0],
    ] as const) {
      expect(await withTenant(pool, tenant, (client) => count(client, notes), { setting: SETTING, citus: true }), tenant).toBe(n);
    }
    expect(Number((await cluster().client.query(`SELECT count(*) AS n FROM ${notes}`)).rows[0].n)).toBe(4);
  });
  it('Kysely: citus: true reaches the workers too; without it 0 rows', async () => {
    const db = new Kysely<Record<string, { company_id: number }>>({
      dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: pool.options.connectionString, max: 1 }) }),
    });
    try {
      const [schema, table] = [cluster().schema, 'deals'];
      const read = (trx: Kysely<Record<string, { company_id: number }>>) => trx.withSchema(schema).selectFrom(table).select('company_id').execute();
      const rows = await withTenant(db, 4, read, { setting: SETTING, citus: true, keyType: 'integer' });
      expect(rows).toHaveLength(perTenant(4));
      expect(rows.every((r) => r.company_id === 4)).toBe(true);
      expect(await withTenant(db, 4, read, { setting: SETTING })).toHaveLength(0);
    } finally {
      await db.destroy();
    }
  });
});

// A table under write load for the migrate test and benchmark: schema, data, and writer connections
// that insert and update continuously while measuring their longest stall and their failures.
import pg from 'pg';
import { parseManifest, type Manifest } from '../../src/config/manifest.js';
import { ident } from '../../src/db/quote.js';

export const LOAD_TENANTS = 10;

/**
 * Creates `schema` with tenants (10 rows), accounts (`rows` rows, tenant_id filled but nullable, no
 * FK, no index — the usual state before a rollout) and entries (rows / 10) referencing accounts.
 */
export async function createLoadSchema(client: pg.ClientBase, schema: string, rows: number): Promise<void> {
  const s = ident(schema);
  await client.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await client.query(`CREATE SCHEMA ${s}`);
  await client.query(`CREATE TABLE ${s}.tenants (id integer PRIMARY KEY, name text NOT NULL)`);
  await client.query(`INSERT INTO ${s}.tenants SELECT i, 'tenant ' || i FROM generate_series(1, ${LOAD_TENANTS}) i`);
  await client.query(`CREATE TABLE ${s}.accounts (id bigserial PRIMARY KEY, tenant_id integer, payload text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`);
  await client.query(
    `INSERT INTO ${s}.accounts (tenant_id, payload) SELECT (i % ${LOAD_TENANTS}) + 1, md5(i::text) FROM generate_series(1, $1::int) i`,
    [rows],
  );
  await client.query(`CREATE TABLE ${s}.entries (id bigserial PRIMARY KEY, tenant_id integer, account_id bigint NOT NULL REFERENCES ${s}.accounts (id), amount integer NOT NULL)`);
  await client.query(
    `INSERT INTO ${s}.entries (tenant_id, account_id, amount) SELECT (i % ${LOAD_TENANTS}) + 1, i, 1 FROM generate_series(1, $1::int) i`,
    [Math.max(1, Math.floor(rows / 10))],
  );
  await client.query(`VACUUM ANALYZE ${s}.accounts`);
  await client.query(`VACUUM ANALYZE ${s}.entries`);
}

/** The manifest of the load schema. */
export function loadManifestFor(schema: string, stateSchema: string, compositeKeys = true): Manifest {
  return parseManifest({
    schema,
    state_schema: stateSchema,
    tenant: { table: 'tenants', key: 'id', column: 'tenant_id', setting: 'app.tenant_id', composite_keys: compositeKeys },
    roles: { app: ['load_app'] },
    tables: { accounts: {}, entries: { backfill: ['account_id'] } },
  });
}

/** What the naive rollout does: the same end state, with the blocking statements. */
export function naiveStatements(schema: string): string[] {
  const s = ident(schema);
  const def = `nullif(current_setting('app.tenant_id', true), '')::integer`;
  return ['accounts', 'entries'].flatMap((t) => [
    `ALTER TABLE ${s}.${t} ALTER COLUMN tenant_id SET DEFAULT ${def}`,
    `ALTER TABLE ${s}.${t} ADD CONSTRAINT ${t}_tenant_fk FOREIGN KEY (tenant_id) REFERENCES ${s}.tenants (id)`,
    `CREATE INDEX ${t}_tenant_id_idx ON ${s}.${t} (tenant_id)`,
    `ALTER TABLE ${s}.${t} ALTER COLUMN tenant_id SET NOT NULL`,
  ]);
}

export interface WriterStats {
  /** Writer transactions committed. */
  ops: number;
  /** Writer transactions that failed (error or timeout). */
  failed: number;
  /** The longest any single writer transaction took, in ms. */
  longestStallMs: number;
  /** Account ids the writers inserted (committed). */
  insertedAccounts: number;
  insertedEntries: number;
  errors: string[];
}

export interface Writers {
  stop(): Promise<WriterStats>;
}

export interface WriterOptions {
  url: string;
  schema: string;
  /** Rows loaded initially (updates and entries pick ids in 1..rows). */
  rows: number;
  connections?: number;
  /** statement_timeout of each writer (an application's request timeout); 0 = none. */
  timeoutMs?: number;
}

/**
 * Starts `connections` writers, each looping over single-statement transactions: insert an account,
 * update a random account, insert an entry of the same tenant as its account.
 */
export async function startWriters(options: WriterOptions): Promise<Writers> {
  const s = ident(options.schema);
  const stats: WriterStats = { ops: 0, failed: 0, longestStallMs: 0, insertedAccounts: 0, insertedEntries: 0, errors: [] };
  let running = true;
  const clients: pg.Client[] = [];
  for (let i = 0; i < (options.connections ?? 4); i++) {
    const c = new pg.Client({ connectionString: options.url, application_name: 'crm-tenancy load writer' });
    c.on('error', () => {});
    await c.connect();
    if (options.timeoutMs) await c.query(`SET statement_timeout = ${Number(options.timeoutMs)}`);
    clients.push(c);
  }
  const loops = clients.map(async (c, w) => {
    let n = w;
    while (running) {
      n++;
      const op = n % 3;
      const id = 1 + Math.floor(Math.random() * options.rows);
      const started = performance.now();
      try {
        if (op === 0) {
          await c.query(`INSERT INTO ${s}.accounts (tenant_id, payload) VALUES ($1, 'w')`, [1 + (n % 10)]);
          stats.insertedAccounts++;
        } else if (op === 1) {
          await c.query(`UPDATE ${s}.accounts SET payload = 'u', updated_at = now() WHERE id = $1`, [id]);
        } else {
          const entryAccount = 1 + Math.floor(Math.random() * Math.max(1, Math.floor(options.rows / 10)));
          await c.query(`INSERT INTO ${s}.entries (tenant_id, account_id, amount) VALUES ($1, $2, 2)`, [(entryAccount % 10) + 1, entryAccount]);
          stats.insertedEntries++;
        }
        stats.ops++;
      } catch (error) {
        stats.failed++;
        if (stats.errors.length < 5) stats.errors.push((error as Error).message);
      }
      stats.longestStallMs = Math.max(stats.longestStallMs, performance.now() - started);
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      await Promise.all(clients.map((c) => c.end().catch(() => {})));
      return stats;
    },
  };
}

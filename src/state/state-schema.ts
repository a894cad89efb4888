// The toolkit's bookkeeping schema: created and upgraded by its own migrations (state/NNNN-*.sql).
import { readdir, readFile } from 'node:fs/promises';
import type pg from 'pg';
import { ident, literal } from '../db/quote.js';
import { withTransaction } from '../db/transaction.js';
import { packagePath } from '../paths.js';

export const STATE_MIGRATIONS_DIR = packagePath('state');

export interface StateMigration {
  id: string;
  sql: string;
}

/** The bookkeeping migrations shipped with the package, in order. `{{schema}}` is the quoted schema. */
export async function listStateMigrations(dir: string = STATE_MIGRATIONS_DIR): Promise<StateMigration[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{4}-[\w-]+\.sql$/.test(f)).sort();
  return Promise.all(files.map(async (f) => ({ id: f.replace(/\.sql$/, ''), sql: await readFile(`${dir}/${f}`, 'utf8') })));
}

export function renderStateSql(sql: string, stateSchema: string): string {
  return sql.replaceAll('{{schema}}', ident(stateSchema)).replaceAll('{{schema_literal}}', literal(stateSchema));
}

/**
 * Creates the bookkeeping schema if needed and applies the bookkeeping migrations it lacks, under
 * a transaction-scoped advisory lock so concurrent commands do not race. Returns the ids applied.
 */
export async function ensureStateSchema(client: pg.ClientBase, stateSchema: string): Promise<string[]> {
  const migrations = await listStateMigrations();
  const schema = ident(stateSchema);
  // Fast path: everything applied already (no lock, no DDL).
  const known = await client.query<{ id: string }>(
    `SELECT id FROM ${schema}.state_migrations`,
  ).catch(() => undefined);
  if (known && migrations.every((m) => known.rows.some((r) => r.id === m.id))) return [];

  // A session that looked the schema up before another created it can keep a stale "no such schema"
  // in its catalog cache past the advisory lock (an advisory lock does not read invalidations), and
  // then CREATE SCHEMA IF NOT EXISTS collides (23505 on pg_namespace). A new transaction reads them:
  // retry once or twice.
  for (let attempt = 1; ; attempt++) {
    try {
      return await applyStateMigrations(client, stateSchema, migrations);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (attempt >= 3 || !(code === '23505' || code === '42P06' || code === '42P07')) throw error;
    }
  }
}

async function applyStateMigrations(client: pg.ClientBase, stateSchema: string, migrations: StateMigration[]): Promise<string[]> {
  const schema = ident(stateSchema);
  return withTransaction(client, async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`crm-tenancy:state:${stateSchema}`]);
    await tx.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await tx.query(`COMMENT ON SCHEMA ${schema} IS 'crm-tenancy bookkeeping: runs, progress, archives, checksums. Managed by crm-tenancy; do not edit.'`);
    await tx.query(
      `CREATE TABLE IF NOT EXISTS ${schema}.state_migrations (id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const applied = new Set((await tx.query<{ id: string }>(`SELECT id FROM ${schema}.state_migrations`)).rows.map((r) => r.id));
    const done: string[] = [];
    for (const migration of migrations) {
      if (applied.has(migration.id)) continue;
      await tx.query(renderStateSql(migration.sql, stateSchema));
      await tx.query(`INSERT INTO ${schema}.state_migrations (id) VALUES ($1)`, [migration.id]);
      done.push(migration.id);
    }
    return done;
  });
}

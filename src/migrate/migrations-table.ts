// node-pg-migrate's bookkeeping table (`pgmigrations` in the state schema): created, read and written
// exactly as node-pg-migrate does, so either tool sees the migrations the other ran.
import { ident, literal } from '../db/quote.js';
import type { Queryable } from '../db/connection.js';
import type { MigrationFile } from './migration-file.js';

/** node-pg-migrate's table, kept in the bookkeeping schema (contract 4). */
export const MIGRATIONS_TABLE = 'pgmigrations';

/** A statement with its parameters. */
export interface Statement {
  text: string;
  values: string[];
}

function tableName(stateSchema: string): string {
  return `${ident(stateSchema)}.${ident(MIGRATIONS_TABLE)}`;
}

/** The table as node-pg-migrate 9 creates it (its ensureMigrationsTable), so its runner accepts ours. */
export function createMigrationsTableSql(stateSchema: string): string {
  return `CREATE TABLE IF NOT EXISTS ${tableName(stateSchema)} (id SERIAL PRIMARY KEY, name varchar(255) NOT NULL, run_on timestamp NOT NULL);`;
}

/**
 * What marks a migration run (up) or not run (down): the row node-pg-migrate's markAsRun writes,
 * `(name, run_on = NOW())`, so the order it reads (`ORDER BY run_on, id`) is the order they ran.
 */
export function markRunStatement(stateSchema: string, name: string, direction: 'up' | 'down'): Statement {
  return direction === 'up'
    ? { text: `INSERT INTO ${tableName(stateSchema)} (name, run_on) VALUES ($1, NOW());`, values: [name] }
    : { text: `DELETE FROM ${tableName(stateSchema)} WHERE name = $1;`, values: [name] };
}

/** A statement with its parameters written in as literals: what a dry run prints. */
export function inlineParameters(statement: Statement): string {
  // Only outside quoted identifiers: a schema may be called "a$1".
  return statement.text
    .split(/("(?:[^"]|"")*")/)
    .map((part, i) => (i % 2 === 1 ? part : part.replace(/\$(\d+)/g, (_, n: string) => literal(statement.values[Number(n) - 1]))))
    .join('');
}

export async function migrationsTableExists(db: Queryable, stateSchema: string): Promise<boolean> {
  const exists = await db.query<{ r: string | null }>(`SELECT to_regclass($1)::text AS r`, [tableName(stateSchema)]);
  return Boolean(exists.rows[0]?.r);
}

/** Names recorded in node-pg-migrate's table, in the order they ran (empty when it does not exist yet). */
export async function appliedMigrationNames(db: Queryable, stateSchema: string): Promise<string[]> {
  const table = tableName(stateSchema);
  if (!(await migrationsTableExists(db, stateSchema))) return [];
  const rows = await db.query<{ name: string }>(`SELECT name FROM ${table} ORDER BY run_on, id`);
  return rows.rows.map((r) => r.name);
}

/** Files of the directory that the migrations table does not list. */
export function pendingFiles(files: MigrationFile[], applied: readonly string[]): MigrationFile[] {
  const done = new Set(applied);
  return files.filter((f) => !done.has(f.name));
}

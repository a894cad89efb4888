// Loads the sample CRM (the customer's database in the report's state) at any scale.
import { readFile } from 'node:fs/promises';
import type pg from 'pg';
import { ident } from '../db/quote.js';
import { withTransaction } from '../db/transaction.js';
import { packagePath } from '../paths.js';

export const SAMPLE_DIR = packagePath('sample');
/** The manifest describing the sample CRM (also the repository's tenancy.yaml). */
export const SAMPLE_MANIFEST = packagePath('tenancy.yaml');

export interface LoadSampleOptions {
  /** Copies of the report's data set (default 1: exactly the report's numbers). About 600 rows each. */
  scale?: number;
  /** Schema to create the tables in (default public); created if missing. */
  schema?: string;
  /** Called before each phase (schema, data, constraints). */
  onPhase?: (phase: 'schema' | 'data' | 'constraints') => void;
}

export interface LoadSampleResult {
  scale: number;
  schema: string;
  rows: number;
  ms: number;
}

/** Rows in one block (one copy of the report's data set, companies included). */
export const ROWS_PER_SCALE = 665;
/** Rows that do not scale (roles, teams). */
export const FIXED_ROWS = 7;

/**
 * Creates the sample CRM's tables, data and constraints in one transaction.
 *
 * @example await loadSampleCrm(client, { scale: 1000 }) // ~600k rows
 */
export async function loadSampleCrm(client: pg.ClientBase, options: LoadSampleOptions = {}): Promise<LoadSampleResult> {
  const scale = options.scale ?? 1;
  if (!Number.isInteger(scale) || scale < 1 || scale > 10_000_000) {
    throw new RangeError(`scale must be a whole number from 1 to 10000000, not ${scale}`);
  }
  const schema = options.schema ?? 'public';
  const started = Date.now();
  const [schemaSql, dataSql, constraintsSql] = await Promise.all(
    ['crm-schema.sql', 'crm-data.sql', 'crm-constraints.sql'].map((f) => readFile(`${SAMPLE_DIR}/${f}`, 'utf8')),
  );
  await withTransaction(client, async (tx) => {
    await tx.query(`CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`);
    await tx.query(`SELECT set_config('search_path', $1, true)`, [ident(schema)]);
    // Bulk load: skip synchronous commit waits; the transaction is all-or-nothing anyway.
    await tx.query(`SET LOCAL synchronous_commit = off`);
    options.onPhase?.('schema');
    await tx.query(schemaSql);
    options.onPhase?.('data');
    await tx.query(dataSql.replaceAll('{{scale}}', String(scale)));
    options.onPhase?.('constraints');
    await tx.query(constraintsSql);
  });
  return { scale, schema, rows: ROWS_PER_SCALE * scale + FIXED_ROWS, ms: Date.now() - started };
}

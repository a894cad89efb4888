// Test helpers for backfill, dedupe and undo: manifests per schema, the expand step by hand, table checksums.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { parseManifestText, type Manifest } from '../../src/config/manifest.js';
import { ident, qualified } from '../../src/db/quote.js';
import { SAMPLE_MANIFEST } from '../../src/sample/sample-crm.js';

/** The sample CRM's manifest (tenancy.yaml), pointed at another schema and bookkeeping schema. */
export async function sampleManifestText(schema: string, stateSchema: string): Promise<string> {
  const text = await readFile(SAMPLE_MANIFEST, 'utf8');
  return text.replace(/^schema: public$/m, `schema: ${JSON.stringify(schema)}\nstate_schema: ${JSON.stringify(stateSchema)}`);
}

export async function sampleManifest(schema: string, stateSchema: string): Promise<Manifest> {
  return parseManifestText(await sampleManifestText(schema, stateSchema));
}

/** Writes a manifest file for CLI runs; returns its path. */
export async function writeConfig(text: string): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'crmt-backfill-'));
  const file = path.join(dir, 'tenancy.yaml');
  await writeFile(file, text, 'utf8');
  return file;
}

/** What the expand migration would do for the three sample tables without company_id (engineer B's job). */
export async function addMissingTenantColumns(client: pg.ClientBase, schema: string): Promise<void> {
  for (const table of ['performance_alerts', 'email_campaigns', 'user_conversations']) {
    await client.query(`ALTER TABLE ${qualified(schema, table)} ADD COLUMN company_id integer`);
  }
}

/**
 * md5 of every row of every table of a schema, ordered, keyed by table name. `row` is the SQL
 * of what is summed per row (alias t), by default the whole row.
 */
export async function tableChecksums(client: pg.ClientBase, schema: string, row = 't::text'): Promise<Record<string, string>> {
  const { rows: tables } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY 1`,
    [schema],
  );
  const out: Record<string, string> = {};
  for (const { name } of tables) {
    const { rows } = await client.query<{ sum: string }>(
      `SELECT md5(coalesce(string_agg(${row}, E'\\n' ORDER BY ${row}), '')) AS sum FROM ${qualified(schema, name)} t`,
    );
    out[name] = rows[0].sum;
  }
  return out;
}

/** Names of the tables of a schema that have a column `column`. */
export async function tablesWithColumn(client: pg.ClientBase, schema: string, column: string): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND a.attname = $2 AND c.relkind = 'r' AND NOT a.attisdropped ORDER BY 1`,
    [schema, column],
  );
  return rows.map((r) => r.name);
}

export async function schemaExists(client: pg.ClientBase, schema: string): Promise<boolean> {
  const { rowCount } = await client.query(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [schema]);
  return (rowCount ?? 0) > 0;
}

export const q = ident;

// Loads the SaaS sample (Rails conventions, uuid tenant key, soft deletes, polymorphic pairs, shared
// rows, a partitioned event table, views) at any scale: the realistic fixture beside the sample CRM.
import { readFile } from 'node:fs/promises';
import type pg from 'pg';
import { ident } from '../db/quote.js';
import { withTransaction } from '../db/transaction.js';
import { SAMPLE_DIR } from './sample-crm.js';

/** The manifest of the SaaS sample (its hand-written tables; the feature tables are added by saasManifestText). */
export const SAAS_MANIFEST = `${SAMPLE_DIR}/saas-tenancy.yaml`;

export interface LoadSaasOptions {
  /** Blocks of three organizations and everything they own (default 1). */
  scale?: number;
  /** Generated feature tables (default 64: ~100 tables in all). */
  modules?: number;
  /** Schema to create the tables in (default public); created if missing. */
  schema?: string;
}

export interface LoadSaasResult {
  scale: number;
  modules: number;
  schema: string;
  /** Tables created (partitions not counted). */
  tables: number;
  ms: number;
}

/** Tables of the hand-written part of the schema (the feature tables come on top). */
export const SAAS_CORE_TABLES = 34;
export const DEFAULT_SAAS_MODULES = 64;

/**
 * Creates the SaaS sample's tables and data in one transaction.
 *
 * @example await loadSampleSaas(client, { scale: 100 }) // 300 organizations
 */
export async function loadSampleSaas(client: pg.ClientBase, options: LoadSaasOptions = {}): Promise<LoadSaasResult> {
  const scale = options.scale ?? 1;
  const modules = options.modules ?? DEFAULT_SAAS_MODULES;
  if (!Number.isInteger(scale) || scale < 1 || scale > 10_000_000) {
    throw new RangeError(`scale must be a whole number from 1 to 10000000, not ${scale}`);
  }
  if (!Number.isInteger(modules) || modules < 0 || modules > 99) {
    throw new RangeError(`modules must be a whole number from 0 to 99, not ${modules}`);
  }
  const schema = options.schema ?? 'public';
  const started = Date.now();
  const [schemaSql, dataSql] = await Promise.all(['saas-schema.sql', 'saas-data.sql'].map((f) => readFile(`${SAMPLE_DIR}/${f}`, 'utf8')));
  const fill = (sql: string) => sql.replaceAll('{{scale}}', String(scale)).replaceAll('{{modules}}', String(modules));
  await withTransaction(client, async (tx) => {
    await tx.query(`CREATE SCHEMA IF NOT EXISTS ${ident(schema)}`);
    await tx.query(`SELECT set_config('search_path', $1, true)`, [ident(schema)]);
    await tx.query(`SET LOCAL synchronous_commit = off`);
    await tx.query(fill(schemaSql));
    await tx.query(fill(dataSql));
  });
  return { scale, modules, schema, tables: SAAS_CORE_TABLES + modules, ms: Date.now() - started };
}

/**
 * The SaaS sample's manifest as text: sample/saas-tenancy.yaml with the application role named and
 * the generated feature tables (as many as were loaded) listed as scoped tables.
 *
 * @example await writeFile('tenancy.yaml', await saasManifestText({ appRole: 'saas_app' }))
 */
export async function saasManifestText(options: { appRole?: string; modules?: number } = {}): Promise<string> {
  const modules = options.modules ?? DEFAULT_SAAS_MODULES;
  let text = await readFile(SAAS_MANIFEST, 'utf8');
  if (options.appRole) text = text.replace('app: [saas_app]', `app: [${JSON.stringify(options.appRole)}]`);
  const features = Array.from({ length: modules }, (_, i) => `  feature_${String(i + 1).padStart(2, '0')}_records: {}\n`).join('');
  return text.replace('\nexempt:\n', `\n${features}exempt:\n`);
}

/**
 * What only a person can decide on the SaaS sample (scale 1), as the refusals of backfill, dedupe and
 * migrate say: the tool reports these and never guesses. The demo applies them as one visible step.
 */
export const SAAS_HAND_FIXES: readonly { why: string; sql: string }[] = [
  { why: 'two different invoices share INV-1001: renumber the second', sql: `UPDATE invoices SET number = number || '-B' WHERE id = md5('inv-0-1-dup')::uuid` },
  { why: "an invoice of Borealis was written for Acme's customer: give it its own", sql: `UPDATE invoices SET customer_id = md5('cust-0-2-3')::uuid WHERE id = md5('inv-0-2-3')::uuid` },
  { why: "a task of Acme sits in Borealis' project: move it back", sql: `UPDATE tasks SET project_id = md5('proj-0-1-1')::uuid WHERE id = md5('task-0-1-1-3')::uuid` },
  {
    why: "labels of another organization on tasks: remove them",
    sql: `DELETE FROM task_labels tl USING tasks t, labels l WHERE tl.task_id = t.id AND tl.label_id = l.id AND t.organization_id <> l.organization_id`,
  },
  { why: 'an import of an organization deleted long ago: delete it', sql: `DELETE FROM data_imports d WHERE NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = d.organization_id)` },
  { why: 'a log line of nobody: it was Borealis', sql: `UPDATE audit_logs SET organization_id = md5('org-0-2')::uuid WHERE organization_id IS NULL` },
  { why: "a payment type no code knows ('Refund'): delete it", sql: `DELETE FROM payments WHERE payable_type NOT IN ('Invoice', 'PaymentRequest')` },
  { why: "Acme's payment points at Cobalt's invoice: point it at Acme's", sql: `UPDATE payments SET payable_id = md5('inv-0-1-4')::uuid WHERE id = md5('pay-0-1-cross')::uuid` },
];

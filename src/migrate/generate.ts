// `generate`: compares the manifest with the live catalog and writes the migration (and policy) files.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Manifest } from '../config/manifest.js';
import { resolveLiveContext, type LiveContext } from '../config/live-context.js';
import { withClient, type Queryable } from '../db/connection.js';
import { ident } from '../db/quote.js';
import { TenancyError } from '../errors.js';
import { writePolicyFiles, type PolicyFileResult } from '../policies/policy-files.js';
import { readMigrationDir, type MigrationFile, type MigrationPhase } from './migration-file.js';
import { planTenancy, type PlanStep, type SkippedTable } from './plan.js';
import { renderMigrations } from './render.js';

/** node-pg-migrate's table, kept in the bookkeeping schema (contract 4). */
export const MIGRATIONS_TABLE = 'pgmigrations';

export interface GenerateOptions {
  /** Where to connect (else DATABASE_URL / PG*); ignored when `client` is given. */
  databaseUrl?: string;
  /** An open connection to use instead of connecting. */
  client?: Queryable;
  manifest: Manifest;
  migrationsDir: string;
  policiesDir: string;
  /** Passed to writePolicyFiles: overwrite policy files the DBA edited. */
  force?: boolean;
  /** Header timestamp (default now). */
  now?: Date;
}

export interface GeneratedFile {
  phase: MigrationPhase;
  /** Path of the written file. */
  file: string;
  name: string;
  tables: string[];
  /** Step ids, e.g. `column:deals`, `not-null:deals`. */
  steps: string[];
}

export interface GenerateResult {
  files: GeneratedFile[];
  /** Migration files already in the directory and not yet run (their steps were not generated again). */
  pending: string[];
  /** Manifest tables generate could not handle, with the reason. */
  skipped: SkippedTable[];
  policyFiles: PolicyFileResult[];
  /** The plan behind the files. */
  steps: PlanStep[];
}

/** Names recorded in node-pg-migrate's table (empty when it does not exist yet). */
export async function appliedMigrationNames(db: Queryable, stateSchema: string): Promise<string[]> {
  const table = `${ident(stateSchema)}.${ident(MIGRATIONS_TABLE)}`;
  const exists = await db.query<{ r: string | null }>(`SELECT to_regclass($1)::text AS r`, [table]);
  if (!exists.rows[0]?.r) return [];
  const rows = await db.query<{ name: string }>(`SELECT name FROM ${table} ORDER BY run_on, id`);
  return rows.rows.map((r) => r.name);
}

/** Files of the directory that the migrations table does not list. */
export function pendingFiles(files: MigrationFile[], applied: readonly string[]): MigrationFile[] {
  const done = new Set(applied);
  return files.filter((f) => !done.has(f.name));
}

/**
 * Writes node-pg-migrate SQL files for what the manifest asks and the database lacks, one file per
 * phase (expand, index, validate, composite), numbered after the files already in `migrationsDir`.
 * Steps provided by pending files are not generated again; after migrate, nothing is generated.
 * Also writes the policy files (writePolicyFiles).
 *
 * @example
 *   const r = await generateMigrations({ manifest, migrationsDir: 'migrations', policiesDir: 'policies' });
 *   r.files // [{ phase: 'expand', file: 'migrations/0001_tenancy-expand.sql', … }, …]
 */
export async function generateMigrations(options: GenerateOptions): Promise<GenerateResult> {
  return withClient(options, 'crm-tenancy generate', (client) => generateWith(client, options));
}

async function generateWith(db: Queryable, options: GenerateOptions): Promise<GenerateResult> {
  const live: LiveContext = await resolveLiveContext(db, options.manifest);
  const existing = await readMigrationDir(options.migrationsDir);
  const applied = await appliedMigrationNames(db, options.manifest.stateSchema);
  const pending = pendingFiles(existing, applied);
  const provided = new Set(pending.flatMap((f) => f.meta?.provides ?? []));
  const plan = planTenancy(live, provided);
  const highest = existing.reduce((max, f) => Math.max(max, Number(/^\d+/.exec(f.name)?.[0] ?? 0)), 0);
  const rendered = renderMigrations(live, plan.steps, { firstIndex: highest + 1, generatedAt: options.now ?? new Date() });
  const files: GeneratedFile[] = [];
  if (rendered.length > 0) {
    try {
      await mkdir(options.migrationsDir, { recursive: true });
    } catch (error) {
      throw new TenancyError('io', `cannot create ${options.migrationsDir}`, { cause: error });
    }
  }
  for (const r of rendered) {
    const file = path.join(options.migrationsDir, r.fileName);
    try {
      await writeFile(file, r.text, { encoding: 'utf8', flag: 'wx' });
    } catch (error) {
      throw new TenancyError('io', `cannot write ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error });
    }
    files.push({ phase: r.phase, file, name: r.fileName.replace(/\.sql$/, ''), tables: r.tables, steps: r.meta.provides });
  }
  const policyFiles = await writePolicyFiles({ live, dir: options.policiesDir, force: options.force });
  return { files, pending: pending.map((f) => f.name), skipped: plan.skipped, policyFiles, steps: plan.steps };
}

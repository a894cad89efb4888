// `generate`: compares the manifest with the live catalog and writes the migration (and policy) files.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Manifest } from '../config/manifest.js';
import { resolveLiveContext, type LiveContext } from '../config/live-context.js';
import { withClient, type ConnectionOptions, type Queryable } from '../db/connection.js';
import { TenancyError } from '../errors.js';
import { writePolicyFiles, type PolicyFileResult } from '../policies/policy-files.js';
import { readMigrationDir, type MigrationPhase } from './migration-file.js';
import { appliedMigrationNames, pendingFiles } from './migrations-table.js';
import { planTenancy, type PlanStep, type SkippedTable } from './plan.js';
import { renderMigrations } from './render.js';

export interface GenerateOptions extends ConnectionOptions<Queryable> {
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

// `generate`: compares the manifest with the live catalog and writes the migration (and policy) files.
import { mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Manifest } from '../config/manifest.js';
import { resolveLiveContext, type LiveContext } from '../config/live-context.js';
import { withClient, type ConnectionOptions, type Queryable } from '../db/connection.js';
import { TenancyError } from '../errors.js';
import { writePolicyFiles, type PolicyFileResult } from '../policies/policy-files.js';
import { checkPolicyFiles } from './policy-files-check.js';
import { checksumState, withChecksum } from './migration-checksum.js';
import { readMigrationDir, type MigrationFile, type MigrationPhase } from './migration-file.js';
import { appliedMigrationNames, pendingFiles } from './migrations-table.js';
import { readPlanExtras } from './plan-extras.js';
import { planTenancy, type PlanStep, type SkippedTable } from './plan.js';
import { planDistribute } from './plan-distribute.js';
import { readCitusState } from '../citus/citus-state.js';
import { migrationFileName, renderMigrations, type RenderedMigration } from './render.js';

export interface GenerateOptions extends ConnectionOptions<Queryable> {
  manifest: Manifest;
  migrationsDir: string;
  policiesDir: string;
  /** Passed to writePolicyFiles: overwrite policy files the DBA edited. */
  force?: boolean;
  /** Write nothing: only report what would change (`generate --check`). */
  check?: boolean;
  /** Header timestamp (default now). */
  now?: Date;
  /** `citus`: as the manifest's `distribution: citus`: the distribute phase and the Citus policy form. */
  target?: 'citus';
}

export interface GeneratedFile {
  phase: MigrationPhase;
  /** Path of the file (written, or that would be with `check`). */
  file: string;
  name: string;
  /** `written`: a new file; `rewritten`: a pending generated file brought up to date. */
  status: 'written' | 'rewritten';
  tables: string[];
  /** Step ids, e.g. `column:deals`, `not-null:deals`. */
  steps: string[];
}

export interface GenerateResult {
  /** Files written or rewritten (with `check`: that would be). */
  files: GeneratedFile[];
  /** Migration files in the directory not yet run, after this generate. */
  pending: string[];
  /** Pending generated files already up to date (left as they are). */
  unchanged: string[];
  /** Pending generated files no longer needed (deleted; with `check`: would be). */
  removed: string[];
  /** Pending generated files edited by hand: kept as they are, their steps not generated again. */
  edited: string[];
  /** Manifest tables generate could not handle, with the reason. */
  skipped: SkippedTable[];
  policyFiles: PolicyFileResult[];
  /** True when any migration or policy file was (with `check`: would be) written, rewritten or removed. */
  changed: boolean;
  /** The plan behind the files. */
  steps: PlanStep[];
}

/**
 * Writes node-pg-migrate SQL files for what the manifest asks and the database lacks, one file per
 * phase (expand, index, validate, composite), numbered after the files already run or kept. A pending
 * (never run) generated file is rewritten when the manifest or the database changed, or removed when
 * nothing of it is needed any more; a run file is never touched; a pending file edited by hand (its
 * checksum line no longer matches) is kept, named in `edited`, and its steps are not generated again.
 * Also writes the policy files (writePolicyFiles). With `check`, writes nothing and reports `changed`.
 *
 * @example
 *   const r = await generateMigrations({ manifest, migrationsDir: 'migrations', policiesDir: 'policies' });
 *   r.files // [{ phase: 'expand', file: 'migrations/0001_tenancy-expand.sql', status: 'written', … }, …]
 */
export async function generateMigrations(options: GenerateOptions): Promise<GenerateResult> {
  return withClient(options, 'crm-tenancy generate', (client) => generateWith(client, options));
}

interface PendingFile {
  file: MigrationFile;
  text: string;
  state: 'pristine' | 'edited' | 'none';
}

async function generateWith(db: Queryable, options: GenerateOptions): Promise<GenerateResult> {
  const manifest = options.target === 'citus' ? { ...options.manifest, distribution: 'citus' as const } : options.manifest;
  const live: LiveContext = await resolveLiveContext(db, manifest);
  const existing = await readMigrationDir(options.migrationsDir);
  const applied = await appliedMigrationNames(db, options.manifest.stateSchema);
  const pending: PendingFile[] = await Promise.all(
    pendingFiles(existing, applied).map(async (file) => {
      const text = await readFile(file.path, 'utf8');
      return { file, text, state: checksumState(text).state };
    }),
  );
  // Only pending files generate wrote and nobody changed are its to rewrite; every other one stays.
  const ours = pending.filter((p) => p.file.meta !== null && p.state === 'pristine');
  const kept = pending.filter((p) => !ours.includes(p));
  const provided = new Set(kept.flatMap((p) => p.file.meta?.provides ?? []));
  // The catalog facts the plan needs beyond the live context: views, partition keys, polymorphic triggers.
  const plan = planTenancy(live, provided, await readPlanExtras(db, live));
  // distribution citus: the distribute phase after the others (src/migrate/plan-distribute.ts).
  // The composite phase's UNIQUE (tenant, key) planned in this run: the distribute phase replaces it by the primary key.
  const plannedUnique = plan.steps.flatMap((s) =>
    s.kind === 'parent-key' && !s.partitions ? [{ table: s.table, constraintName: s.constraintName, columns: [manifest.tenant.column, s.key] }] : [],
  );
  const distribute = manifest.distribution === 'citus' ? planDistribute(live, await readCitusState(db, manifest.schema), provided, plannedUnique) : undefined;
  const rendered = renderMigrations(live, plan.steps, {
    firstIndex: 1,
    generatedAt: options.now ?? new Date(),
    ...(distribute ? { distribute: distribute.steps } : {}),
  });
  const names = fileNames(rendered, existing, pending, ours);

  const files: GeneratedFile[] = [];
  const unchanged: string[] = [];
  const writes: { file: string; text: string }[] = [];
  for (const [i, r] of rendered.entries()) {
    const text = withChecksum(r.text);
    const name = names[i];
    const file = path.join(options.migrationsDir, `${name}.sql`);
    const old = ours.find((p) => p.file.name === name);
    if (old && checksumState(old.text).checksum === checksumState(text).checksum) {
      unchanged.push(name);
      continue;
    }
    writes.push({ file, text });
    files.push({ phase: r.phase, file, name, status: old ? 'rewritten' : 'written', tables: r.tables, steps: r.meta.provides });
  }
  const renderedNames = new Set(names);
  const removed = ours.filter((p) => !renderedNames.has(p.file.name)).map((p) => p.file.path);
  const edited = kept.filter((p) => p.file.meta !== null).map((p) => p.file.path);

  if (!options.check) await applyChanges(options.migrationsDir, writes, removed);
  const policyFiles = options.check
    ? await checkPolicyFiles({ live, dir: options.policiesDir, force: options.force })
    : await writePolicyFiles({ live, dir: options.policiesDir, force: options.force });
  const policyChanged = policyFiles.some((p) => p.status === 'written' || p.status === 'overwritten');
  return {
    files,
    pending: [...kept.map((p) => p.file.name), ...unchanged, ...files.map((f) => f.name)].sort(),
    unchanged,
    removed,
    edited,
    skipped: [...plan.skipped, ...(distribute?.skipped ?? [])],
    policyFiles,
    changed: files.length > 0 || removed.length > 0 || policyChanged,
    steps: plan.steps,
  };
}

const numberOf = (name: string): number => Number(/^\d+/.exec(name)?.[0] ?? 0);

/**
 * The names of the rendered files: a pending generated file of the same phase keeps its name (so a
 * rewrite is a change of that file, and it keeps its place before kept pending files) when it still
 * comes after the run files and the files before it; other files are numbered after every file.
 */
function fileNames(rendered: RenderedMigration[], existing: MigrationFile[], pending: PendingFile[], ours: PendingFile[]): string[] {
  let last = existing.filter((f) => !pending.some((p) => p.file === f)).reduce((max, f) => Math.max(max, numberOf(f.name)), 0);
  let next = existing.reduce((max, f) => Math.max(max, numberOf(f.name)), 0) + 1;
  const used = new Set<PendingFile>();
  return rendered.map((r) => {
    const reuse = ours.find((p) => !used.has(p) && p.file.meta?.phase === r.phase && numberOf(p.file.name) > last);
    if (reuse) {
      used.add(reuse);
      last = numberOf(reuse.file.name);
      return reuse.file.name;
    }
    last = next;
    return migrationFileName(next++, r.phase).replace(/\.sql$/, '');
  });
}

async function applyChanges(dir: string, writes: { file: string; text: string }[], removed: string[]): Promise<void> {
  if (writes.length > 0) {
    try {
      await mkdir(dir, { recursive: true });
    } catch (error) {
      throw new TenancyError('io', `cannot create ${dir}`, { cause: error });
    }
  }
  for (const file of removed) {
    try {
      await unlink(file);
    } catch (error) {
      throw new TenancyError('io', `cannot remove ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error });
    }
  }
  for (const w of writes) {
    try {
      await writeFile(w.file, w.text, 'utf8');
    } catch (error) {
      throw new TenancyError('io', `cannot write ${w.file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`, { cause: error });
    }
  }
}

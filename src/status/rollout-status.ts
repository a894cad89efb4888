// `crm-tenancy status`: per table of the manifest, the rollout step it is at and the next command; read-only.
import type pg from 'pg';
import { DEFAULT_MANIFEST_FILE, type Manifest } from '../config/manifest.js';
import { withClient, type ConnectionOptions } from '../db/connection.js';
import { withTransaction } from '../db/transaction.js';
import { liveTableSuggester } from '../db/table-suggestion.js';
import { readMigrationDir } from '../migrate/migration-file.js';
import { checkPrecondition } from '../migrate/preflight.js';
import { migrationStatus, type TableStatus } from '../migrate/status.js';
import { policyStatus, type PolicyStatusRow } from '../policies/apply.js';
import type { Logger } from '../logger.js';
import {
  ROLLOUT_STEPS,
  databaseNext,
  placeTable,
  type CommandSettings,
  type PendingWork,
  type RolloutStep,
  type TableFacts,
} from './rollout-step.js';

export interface RolloutStatusOptions extends ConnectionOptions {
  manifest: Manifest;
  /** The migration files (default `migrations`). */
  migrationsDir?: string;
  /** The policy files (default `policies`). */
  policiesDir?: string;
  /** The manifest path as the user gave it: non-default paths are repeated in the next commands. */
  config?: string;
  /** statement_timeout of the read (NULL counts included), in ms (default 60 000). */
  statementTimeoutMs?: number;
  logger?: Logger;
}

export interface TableRollout {
  table: string;
  kind: TableFacts['kind'];
  step: RolloutStep;
  detail: string;
  /** The command that moves this table on; null when done, or when only a human can (missing table). */
  next: string | null;
  /** Why `next` will still refuse because of other tables (see the notes); null when it will not. */
  waiting: string | null;
  facts: TableFacts;
}

export interface RolloutStatus {
  database: string;
  schema: string;
  /** The tenant table first, then the scoped tables in manifest order. */
  tables: TableRollout[];
  /** How many tables are at each step (every step listed, zeros included). */
  summary: Record<RolloutStep, number>;
  /** Migration files not yet run, in order. */
  pendingMigrations: string[];
  /** What holds several tables back at once (each `waiting` table points here). */
  notes: string[];
  /** The command to run next for the database as a whole (the earliest step decides); null when done. */
  next: string | null;
  /** Every table done. */
  done: boolean;
  /** 0 when every table is done, 1 otherwise. */
  /** Every table done. */
  ok: boolean;
  /** The CLI's exit code: 0 when ok, 1 otherwise. */
  exitCode: 0 | 1;
}

export const DEFAULT_STATUS_STATEMENT_TIMEOUT_MS = 60_000;

/** Which steps a pending file provides for `table` (generate's step ids are `kind:table[:…]`). */
function pendingWork(table: string, provides: readonly string[]): PendingWork {
  const has = (kinds: string[]) =>
    provides.some((id) => kinds.some((k) => id === `${k}:${table}` || id.startsWith(`${k}:${table}:`)));
  return {
    expand: has(['column', 'default', 'fk', 'index', 'drop-invalid-index']),
    validate: has(['fk-valid', 'not-null', 'unique']),
    composite: has(['parent-key', 'composite-fk']),
  };
}

function settingsOf(options: RolloutStatusOptions): CommandSettings {
  const s: CommandSettings = {};
  if (options.config && options.config !== DEFAULT_MANIFEST_FILE) s.config = options.config;
  if (options.migrationsDir && options.migrationsDir !== 'migrations') s.migrationsDir = options.migrationsDir;
  if (options.policiesDir && options.policiesDir !== 'policies') s.policiesDir = options.policiesDir;
  return s;
}

/**
 * Reads where the rollout stands, per table: the catalog facts come from `migrationStatus`, the
 * policy facts (applied checksum, drift) from `policyStatus`, pending migration files from the
 * migrations directory, and NULL tenants are counted only where the tenant index can answer
 * (`count(*) WHERE col IS NULL`; not at all once the column is NOT NULL). On a connection it opens
 * itself, everything is read in one REPEATABLE READ READ ONLY transaction (one snapshot; runs on a
 * standby too). Writes nothing.
 *
 * @example const s = await rolloutStatus({ manifest }); s.summary.backfill; s.next // 'crm-tenancy backfill'
 */
export async function rolloutStatus(options: RolloutStatusOptions): Promise<RolloutStatus> {
  return withClient(options, 'crm-tenancy status', async (client) => {
    const read = (db: pg.ClientBase) => readStatus(db, options);
    if (options.client) return read(client as pg.ClientBase);
    return withTransaction(client as pg.ClientBase, read, {
      isolation: 'REPEATABLE READ',
      readOnly: true,
      statementTimeoutMs: options.statementTimeoutMs ?? DEFAULT_STATUS_STATEMENT_TIMEOUT_MS,
    });
  });
}

async function readStatus(db: pg.ClientBase, options: RolloutStatusOptions): Promise<RolloutStatus> {
  const { manifest } = options;
  const migrationsDir = options.migrationsDir ?? 'migrations';
  const catalog = await migrationStatus({ client: db, manifest, migrationsDir });
  const policies = await policyStatus({ client: db, manifest, policiesDir: options.policiesDir, logger: options.logger });
  const applied = new Set(catalog.migrations.filter((m) => m.applied).map((m) => m.name));
  const pendingFiles = (await readMigrationDir(migrationsDir)).filter((f) => !applied.has(f.name));
  const provides = pendingFiles.flatMap((f) => f.meta?.provides ?? []);
  const policyOf = (table: string) => policies.tables.find((p) => p.schema === manifest.schema && p.table === table);
  const settings = settingsOf(options);
  const column = manifest.tenant.column;

  const facts: TableFacts[] = [tenantTableFacts(manifest, policyOf(manifest.tenant.table))];
  for (const t of catalog.tables) {
    const entry = manifest.tables.find((m) => m.name === t.table)!;
    facts.push(await scopedFacts(db, manifest, t, policyOf(t.table), entry.backfill.length > 0));
  }
  // `policies apply` refuses while any scoped table lacks its NOT NULL tenant column (its preflight).
  const notReady = facts.filter((f) => f.kind === 'scoped' && f.exists && (!f.column || !f.notNull)).map((f) => f.table);
  const placed = facts.map((f) => ({ facts: f, ...placeTable(f, pendingWork(f.table, provides), column, settings) }));
  // A missing table is most often a typo in the manifest: name the close one.
  const missing = placed.filter((p) => p.step === 'missing-table');
  if (missing.length > 0) {
    const suggestion = await liveTableSuggester(db, manifest.schema);
    for (const p of missing) p.detail += suggestion(p.facts.table);
  }
  // One validate / composite file covers every table, and migrate checks all their data first.
  const backfilling = placed.filter((p) => p.step === 'backfill').length;
  const waitsForBackfill = `migrate validates every table at once: it refuses while ${backfilling} table(s) still need their backfill`;
  const waitsForNotNull = `policies apply refuses until every scoped table has a NOT NULL ${column} (${notReady.length} not yet)`;
  const notes = new Set<string>();
  const tables: TableRollout[] = placed.map(({ facts: f, step, detail, next }) => {
    let waiting: string | null = null;
    if (next?.startsWith('crm-tenancy policies apply') && notReady.length > 0) waiting = waitsForNotNull;
    if ((step === 'validate' || step === 'composite') && next?.startsWith('crm-tenancy migrate') && backfilling > 0) waiting = waitsForBackfill;
    if (waiting) notes.add(waiting);
    return { table: f.table, kind: f.kind, step, detail, next, waiting, facts: f };
  });
  const summary = Object.fromEntries(ROLLOUT_STEPS.map((s) => [s, tables.filter((t) => t.step === s).length])) as Record<RolloutStep, number>;
  const done = tables.every((t) => t.step === 'done');
  const { rows } = await db.query<{ db: string }>(`SELECT current_database() AS db`);
  return {
    database: rows[0].db,
    schema: manifest.schema,
    tables,
    summary,
    pendingMigrations: pendingFiles.map((f) => f.name),
    notes: [...notes],
    next: databaseNext(tables, settings),
    done,
    ok: done,
    exitCode: done ? 0 : 1,
  };
}

function policyFacts(p: PolicyStatusRow | undefined): Pick<TableFacts, 'rlsEnabled' | 'rlsForced' | 'policyFile' | 'policyPending' | 'policyDrifted'> {
  return {
    rlsEnabled: p?.rlsEnabled ?? false,
    rlsForced: p?.rlsForced ?? false,
    policyFile: p?.fileChecksum != null,
    policyPending: p?.pending ?? false,
    policyDrifted: p?.drifted ?? false,
  };
}

function tenantTableFacts(manifest: Manifest, p: PolicyStatusRow | undefined): TableFacts {
  return {
    table: manifest.tenant.table,
    kind: 'tenant',
    exists: p?.exists ?? false,
    column: null,
    fk: null,
    index: null,
    nullTenants: null,
    fkValidated: null,
    notNull: null,
    uniqueKeys: null,
    compositeKeys: null,
    ...policyFacts(p),
    backfillSources: false,
  };
}

async function scopedFacts(
  db: pg.ClientBase,
  manifest: Manifest,
  t: TableStatus,
  p: PolicyStatusRow | undefined,
  backfillSources: boolean,
): Promise<TableFacts> {
  const column = manifest.tenant.column;
  let nullTenants: number | null = null;
  if (t.exists && t.column && t.notNull) nullTenants = 0;
  else if (t.exists && t.column && t.index) {
    // The tenant index holds the NULL entries too: this reads only them.
    const refusal = await checkPrecondition(db, { kind: 'not-null', schema: manifest.schema, table: t.table, column });
    nullTenants = refusal?.count ?? 0;
  }
  return {
    table: t.table,
    kind: 'scoped',
    exists: t.exists,
    column: t.column === true,
    fk: t.fk === true,
    index: t.index === true,
    nullTenants,
    fkValidated: t.fkValidated === true,
    notNull: t.notNull === true,
    uniqueKeys: t.uniqueKeys,
    compositeKeys: t.compositeKeys,
    ...policyFacts(p),
    backfillSources,
  };
}

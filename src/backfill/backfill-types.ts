// What runBackfill takes and returns, its defaults, and the context its stages share during a run.
import type pg from 'pg';
import type { Manifest } from '../config/manifest.js';
import type { ConnectionOptions } from '../db/connection.js';
import type { RowKey } from '../db/table-keys.js';
import type { Logger, ProgressListener } from '../logger.js';
import type { HealthThresholds } from '../db/server-health.js';

export const DEFAULT_BATCH_SIZE = 1000;
export const DEFAULT_TARGET_BATCH_MS = 200;
export const DEFAULT_LOCK_TIMEOUT_MS = 500;
export const DEFAULT_SAMPLE_LIMIT = 1000;
export const MIN_BATCH = 10;
export const MAX_BATCH = 100_000;

export interface BackfillOptions extends ConnectionOptions {
  manifest: Manifest;
  /** Only this scoped table. */
  table?: string;
  /** Report what would change; writes nothing (not even bookkeeping). */
  dryRun?: boolean;
  /** First batch size (rows of primary key per batch), default 1000. */
  batchSize?: number;
  /** Batch duration the size adapts toward, default 200 ms; 0 keeps the size fixed. */
  targetBatchMs?: number;
  /** Pause between batches, default 0. */
  sleepMs?: number;
  /** lock_timeout of each batch, default 500 ms (retried on 55P03). */
  lockTimeoutMs?: number;
  /** Assign rows no source can place to this tenant (each logged and recorded). */
  assignOrphansTo?: string;
  /** Set nullable FKs pointing at another tenant's row to NULL (recorded, undoable). */
  detachCrossTenant?: boolean;
  /**
   * Batches of one table run on this many connections at once, on disjoint key ranges (default 1).
   * Each batch stays as short as with one; docs/backfill.md has the measured gain on 2 cores.
   * Needs `databaseUrl` (or the environment) to open the extra connections: with only `client`, 1.
   */
  jobs?: number;
  /** Wait for the WAL flush of every batch (default off: a lost batch is redone on resume). */
  synchronousCommit?: boolean;
  /**
   * Pause before each batch (on every --jobs connection) while the server is unhealthy for the table:
   * a standby lagging, a long autovacuum on it, checkpoint pressure (opt-in). Undefined: never pause.
   */
  health?: HealthThresholds;
  /** Aborts a health pause (Ctrl-C). */
  signal?: AbortSignal;
  /** Most orphans / conflicts / cross-tenant rows listed per table (counts are always complete), default 1000. */
  sampleLimit?: number;
  logger?: Logger;
  onProgress?: ProgressListener;
  /** Called after every committed batch (benchmarks). */
  onBatch?: (event: BatchEvent) => void;
}

export interface BatchEvent {
  table: string;
  phase: string;
  rows: number;
  changed: number;
  ms: number;
  batchSize: number;
}

/** A row left without a tenant: its key and the distinct tenants its sources offer. */
export interface UnplacedRow {
  table: string;
  key: RowKey;
  candidates: unknown[];
}

/** A row's FK value, its tenant and the tenant of the row it points at (another one). */
export interface CrossTenantSample {
  key: RowKey;
  value: unknown;
  tenant: unknown;
  parentTenant: unknown;
}

/** A child row pointing at another tenant's row through a scoped FK. */
export interface CrossTenantReference {
  table: string;
  column: string;
  constraint: string;
  references: string;
  nullable: boolean;
  /** Found before detaching (or now, without --detach-cross-tenant). */
  found: number;
  /** Set to NULL by this run. */
  detached: number;
  /** Still pointing across tenants (NOT NULL columns, or without --detach-cross-tenant). */
  remaining: number;
  samples: CrossTenantSample[];
}

/** A scoped table the run left alone, and why (it had nothing to fill and could not be walked). */
export interface SkippedTable {
  table: string;
  reason: string;
}

export interface BackfillTableResult {
  table: string;
  /** Rows whose tenant this run derived (dry run: would derive). */
  filled: number;
  /** Orphans assigned with --assign-orphans-to. */
  assigned: number;
  orphans: number;
  conflicts: number;
  /** Still NULL although one source could place them now (a parent filled after the row was visited). */
  pending: number;
  detached: number;
  passes: number;
  batches: number;
  batchMs: { p50: number; p99: number; max: number } | null;
}

export interface BackfillResult {
  /** null for a dry run (nothing recorded). */
  runId: string | null;
  dryRun: boolean;
  /** This run continued an interrupted one. */
  resumed: boolean;
  schema: string;
  tables: BackfillTableResult[];
  orphans: UnplacedRow[];
  conflicts: UnplacedRow[];
  /** Orphans this run assigned with --assign-orphans-to (also logged one by one). */
  assignedOrphans: AssignedOrphan[];
  crossTenant: CrossTenantReference[];
  /** Every NULL tenant filled (and, with --detach-cross-tenant, no cross-tenant reference left). */
  ok: boolean;
  missingTables: string[];
  /** Tables without a primary key that needed no fill: left alone, each with the reason (also logged). */
  skippedTables: SkippedTable[];
  /** The pauses made while the server was unhealthy (none for a dry run, or without `health`). */
  healthPauses: HealthPauses;
}

/** Pauses of a run while the server was unhealthy (replication lag, autovacuum, checkpoints). */
export interface HealthPauses {
  pauses: number;
  pausedMs: number;
  /** Each wait that paused: the table, how many pauses, and the reasons of its first pause (at most 100 kept). */
  waits: { table: string; pauses: number; pausedMs: number; reasons: string[] }[];
}

export const noHealthPauses = (): HealthPauses => ({ pauses: 0, pausedMs: 0, waits: [] });

export interface AssignedOrphan {
  table: string;
  key: RowKey;
  tenant: string;
}

/** What the stages of one recorded run share: its connections, run id, options and what it measured. */
export interface RunContext {
  client: pg.Client;
  /** Extra connections for --jobs > 1 (the batches of one table are spread over client + these). */
  workers: pg.Client[];
  stateSchema: string;
  runId: string;
  options: BackfillOptions;
  logger: Logger;
  batchSize: number;
  /** Batch durations per `table\0phase`, for the aim of the batch size and the report. */
  durations: Map<string, number[]>;
  assigned: AssignedOrphan[];
  /** The health pauses so far (every job adds its own). */
  healthPauses: HealthPauses;
}

/** The lock_timeout of every batch and of the finishing transaction. */
export function lockTimeoutOf(options: BackfillOptions): number {
  return options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
}

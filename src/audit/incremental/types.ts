// What an audit records for a later `audit --since` (its snapshot, identity, catalog fingerprint, clean checks) and what a --since run did per table.

/** The `snapshot` block of the audit's JSON: everything a later `--since` run needs to trust this run's clean checks. */
export interface AuditSnapshot {
  /** Format of this block (a later version that cannot read it re-checks in full). */
  format: 1;
  /** pg_control_system().system_identifier: the cluster (a restore into another cluster has another one). */
  system: string;
  /** The database's oid (`CREATE DATABASE b TEMPLATE a` keeps the system identifier, not the oid). */
  database: string;
  /** pg_control_checkpoint().timeline_id: a point-in-time restore or a promotion starts a new timeline. */
  timeline: number;
  /** The WAL position when the audit ran (a restored copy is behind it). */
  lsn: string;
  /** The audit's own snapshot, as xid8 (epoch included): pg_current_snapshot(). */
  xmin: string;
  xmax: string;
  xip: string[];
  /** Why a later --since cannot use this run, when it cannot (it ran inside a caller's transaction). */
  unusable?: string;
  /** Manifest, data-check SQL and server major version: any change makes every data check run in full. */
  global: string;
  /**
   * Per table (schema-qualified): relfilenode (a rewrite), and a hash of its columns, constraints, indexes, triggers, partitions;
   * for the tenant table (when unknown-tenant read rows) its row count and, up to MAX_TENANT_KEYS rows, its keys as text.
   */
  tables: Record<string, { relfilenode: string; catalog: string; rows?: number; keys?: string[] }>;
  /** Every data-check answer: `clean` (rows read, nothing found), `findings`, or `proven` (by constraints, rows not read). */
  units: { check: string; table: string; object: string | null; status: 'clean' | 'findings' | 'proven' }[];
}

/** Per table, what an `audit --since` run did. */
export interface IncrementalTable {
  table: string;
  /** incremental: only changed rows were read; full: the table's data checks ran as in a full audit; none: no data check reads it. */
  mode: 'incremental' | 'full' | 'none';
  /** Rows whose version is newer than the previous audit's snapshot (inserted or updated since). */
  changedRows?: number;
  /** Why full, one per data check answer that ran in full. */
  reasons: string[];
}

export interface IncrementalReport {
  /** The previous audit's file, as given. */
  since: string;
  /** A reason every data check ran in full (another database, wraparound distance…), if one. */
  global?: string;
  tables: IncrementalTable[];
}

/** The previous audit as `--since` reads it. */
export interface PreviousAudit {
  file: string;
  snapshot: AuditSnapshot | null;
  /** Why `snapshot` is null (no snapshot block, another format). */
  problem?: string;
}

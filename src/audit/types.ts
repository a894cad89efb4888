// The audit's typed results: findings are data, never exceptions.

export type Severity = 'error' | 'warning' | 'info';
export const SEVERITIES: readonly Severity[] = ['error', 'warning', 'info'];
export const severityRank: Record<Severity, number> = { error: 3, warning: 2, info: 1 };

/** The summary's counts of findings: per severity (waived ones apart) and how many gate under `failOn`. */
export function findingCounts(
  findings: readonly Pick<Finding, 'severity' | 'waived'>[],
  failOn: Severity | 'never',
): Pick<AuditSummary, 'error' | 'warning' | 'info' | 'waived' | 'failing' | 'failOn'> {
  const active = findings.filter((f) => !f.waived);
  const count = (severity: Severity) => active.filter((f) => f.severity === severity).length;
  return {
    error: count('error'),
    warning: count('warning'),
    info: count('info'),
    waived: findings.length - active.length,
    failing: failOn === 'never' ? 0 : active.filter((f) => severityRank[f.severity] >= severityRank[failOn]).length,
    failOn,
  };
}

export type CheckKind = 'catalog' | 'data' | 'policy';
/** catalog: one SQL file run as it is; policy: SQL rows read by a TypeScript analysis; data: planned scans of table rows. */
export const CHECK_KINDS: readonly CheckKind[] = ['catalog', 'policy', 'data'];

/** The columns every catalog check returns, in this order (a contract test runs each one against a database). */
export const CATALOG_COLUMNS = ['table_name', 'object', 'count', 'samples', 'message', 'severity'] as const;

/** A check that only runs for a target (`-- target: citus`): audit --target citus, or a manifest with distribution citus. */
export type CheckTarget = 'citus';
export const CHECK_TARGETS: readonly CheckTarget[] = ['citus'];

export interface CheckDefinition {
  /** Stable, kebab-case. */
  id: string;
  /** audits/NNNN-<id>.sql */
  file: string;
  title: string;
  severity: Severity;
  kind: CheckKind;
  remediation: string;
  /** The comment block that explains the check (from the SQL file). */
  description: string;
  /** The SQL (catalog and policy checks) or the template sections (data checks). */
  sql: string;
  sections: Record<string, string>;
  /** docs/checks/<id>.md */
  docs: string;
  /** Runs only for this target (header `-- target:`); absent: always. */
  target?: CheckTarget;
}

export interface Waiver {
  check: string;
  /** A table (name or schema.table), role, view or function the finding names. */
  object: string;
  reason: string;
  /** ISO date; the waiver stops waiving after it. */
  expires?: string;
}

export interface Finding {
  check: string;
  severity: Severity;
  /** Schema-qualified table, when the finding is about one. */
  table: string | null;
  /** The role, view, function, constraint or index it names, if any. */
  object: string | null;
  /** How many rows / groups (data checks). */
  count: number | null;
  /** Up to 5 primary keys (or duplicate keys) as evidence. */
  samples: unknown[];
  message: string;
  remediation: string;
  /** Stable across runs: check + table + object (never counts). */
  fingerprint: string;
  /** Present when a waiver or the baseline accepts it: it does not gate. */
  waived?: { by: 'waiver' | 'baseline'; reason: string; expires?: string };
}

export interface CheckRun {
  check: string;
  /** The tables a data query read: `deals` (NULL count), `contacts ← deals, activities` (cross-tenant). */
  target?: string;
  ms: number;
  findings: number;
  /** Data scans skipped because the catalog proves them unnecessary. */
  skipped?: number;
  error?: string;
}

/**
 * How one data check knows its answer for one table (or one foreign key, or one unique key):
 * `proven` when the catalog rules the defect out and no row was read — a proof that assumes every
 * row went through the constraint (rows written with session_replication_role = replica skip
 * foreign-key triggers) — or `scanned` when the rows were read (always, with `deep`).
 */
export interface DataProof {
  check: string;
  /** The table the answer is about (unqualified, as in the manifest). */
  table: string;
  /** The foreign key (cross-tenant-reference) or the key columns (duplicate-within-tenant). */
  object: string | null;
  status: 'proven' | 'scanned';
  /** For `proven`: the constraint that proves it (`company_id is NOT NULL`, `validated composite foreign key`, …). */
  proof?: string;
}

/** Per data check that ran: how many of its answers were proven by constraints, how many scanned. */
export interface DataCheckStatus {
  check: string;
  /** `proven`: every answer from constraints; `scanned`: every answer from the rows; `mixed`: some of each; `none`: nothing to check. */
  status: 'proven' | 'scanned' | 'mixed' | 'none';
  proven: number;
  scanned: number;
}

export interface AuditSummary {
  error: number;
  warning: number;
  info: number;
  waived: number;
  /** Findings at or above --fail-on that are not waived. */
  failing: number;
  failOn: Severity | 'never';
  checks: number;
  tables: number;
  scannedTables: number;
  skippedScans: number;
  /** --deep: every data check scanned the rows, even where constraints prove the answer. */
  deep: boolean;
  durationMs: number;
  server: string;
}

export interface AuditResult {
  /** What a later `audit --since` needs (src/audit/incremental). */
  snapshot?: import('./incremental/types.js').AuditSnapshot;
  /** With --since: per table, incremental or full and why. */
  incremental?: import('./incremental/types.js').IncrementalReport;
  version: 1;
  schema: string;
  /** Scoped tables and the tenant table, schema-qualified, in manifest order. */
  tables: string[];
  /** Check ids that ran, in order. */
  checks: CheckDefinition[];
  findings: Finding[];
  runs: CheckRun[];
  /** Per data check that ran: proven by constraints or scanned (see `proofs` for each table). */
  dataChecks: DataCheckStatus[];
  /** Every answer of every data check, proven or scanned. */
  proofs: DataProof[];
  /** Waivers that matched nothing, and expired ones. */
  unusedWaivers: Waiver[];
  expiredWaivers: Waiver[];
  summary: AuditSummary;
  /** Exit code for --fail-on: 1 when a finding at or above it remains. */
  /** The gate: no finding at or above failOn (waived and baseline findings aside). */
  ok: boolean;
  /** The CLI's exit code for this result: 0 when ok, 1 otherwise. */
  exitCode: 0 | 1;
}

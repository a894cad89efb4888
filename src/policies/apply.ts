// `policies apply|diff|status` as functions: apply changed files per table (lock_timeout + retry), compare, report.
import type pg from 'pg';
import type { Manifest } from '../config/manifest.js';
import { withClient } from '../db/connection.js';
import { ident } from '../db/quote.js';
import { withLockRetry, withRollback, withTransaction } from '../db/transaction.js';
import { toTenancyError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { ensureStateSchema } from '../state/state-schema.js';
import { readPolicyFiles, type PolicyFile } from './policy-files.js';
import {
  comparePolicyState,
  executePolicyFile,
  readFingerprint,
  type PolicyDrift,
  type PolicyFingerprint,
  type LivePolicy,
} from './live-policies.js';
import { checkRoles, createMissingRoles, type RoleRefusal } from './roles.js';
import { applyPreflight, type ApplyPreflightRefusal } from './apply-preflight.js';
import { releaseAdvisoryLock, tryAdvisoryLock } from '../state/locks.js';
import { TenancyError } from '../errors.js';
import {
  PARTITION_TRIGGER_GUARD,
  readPartitionTrigger,
  syncPartitionTrigger,
  type PartitionTriggerOutcome,
  type PartitionTriggerState,
} from './partition-trigger.js';

/** Inside a policy file's transaction: the file, not the partition trigger, decides each partition's policies. */
const muteTrigger = (tx: pg.ClientBase) => tx.query(`SELECT set_config($1, 'on', true)`, [PARTITION_TRIGGER_GUARD]);

/** Default lock_timeout for each table's transaction (pgroll's default). */
export const DEFAULT_POLICY_LOCK_TIMEOUT_MS = 500;

interface Common {
  /** Where to connect (default: DATABASE_URL / PG*). Ignored when `client` is given. */
  databaseUrl?: string;
  /** An open connection to use instead (not closed). */
  client?: pg.ClientBase;
  manifest: Manifest;
  /** The directory of policy files (default `policies`). */
  policiesDir?: string;
  logger?: Logger;
}

export interface ApplyPoliciesOptions extends Common {
  /** lock_timeout of each table's transaction, in ms (default 500); lock timeouts are retried with backoff. */
  lockTimeoutMs?: number;
  /** Retry attempts per table on lock_timeout (default 8). */
  attempts?: number;
  /** Report what would be applied (and the preflight's refusals); change nothing. */
  dryRun?: boolean;
  /** Apply although the preflight refuses (a scoped table lacks its NOT NULL tenant column). */
  force?: boolean;
}

export type AppliedStatus = 'applied' | 'would-apply' | 'unchanged' | 'skipped' | 'failed';

export interface AppliedTable {
  schema: string;
  table: string;
  file: string;
  status: AppliedStatus;
  /** Why it was (re-)applied, skipped or failed. */
  reason: string;
  checksum: string;
  /** Policies that existed and that no file recreates (dropped by apply). */
  dropped: string[];
  /** Transactions it took (lock timeouts retried). */
  attempts: number;
}

export interface ApplyPoliciesResult {
  tables: AppliedTable[];
  rolesCreated: { role: string; kind: 'app' | 'bypass' }[];
  /** Unsafe application roles: nothing was applied when there are any. */
  refusals: RoleRefusal[];
  /** Scoped tables not ready for row-level security (nothing was applied when there are any, unless `force`). */
  preflight: ApplyPreflightRefusal[];
  /** The event trigger securing new partitions of scoped tables (absent when refused before it was considered). */
  partitionTrigger?: PartitionTriggerOutcome;
  warnings: string[];
  dryRun: boolean;
  /** True when there are no refusals and neither a table nor the partition trigger failed. */
  ok: boolean;
}

function manifestRoles(manifest: Manifest): string[] {
  return [...manifest.roles.app, ...manifest.roles.bypass.map((b) => b.role)];
}

/** Files for the manifest's tables (tenant table and scoped tables); the rest are reported. */
function partitionFiles(manifest: Manifest, files: PolicyFile[]): { known: PolicyFile[]; unknown: PolicyFile[] } {
  const names = new Set([manifest.tenant.table, ...manifest.tables.map((t) => t.name)]);
  const known: PolicyFile[] = [];
  const unknown: PolicyFile[] = [];
  for (const f of files) (f.schema === manifest.schema && names.has(f.table) ? known : unknown).push(f);
  return { known, unknown };
}

function sameFingerprint(a: PolicyFingerprint, b: PolicyFingerprint): boolean {
  const norm = (f: PolicyFingerprint) =>
    JSON.stringify({
      e: f.exists,
      r: f.rlsEnabled,
      f: f.rlsForced,
      p: [...f.policies]
        .sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))
        .map((p: LivePolicy) => [p.name, p.command, p.permissive, p.roles, p.using, p.withCheck]),
    });
  return norm(a) === norm(b);
}

interface Recorded {
  checksum: string;
  fingerprint: PolicyFingerprint;
  applied_at: Date;
  applied_by: string;
}

async function readRecorded(db: pg.ClientBase, stateSchema: string): Promise<Map<string, Recorded>> {
  const exists = await db.query(`SELECT to_regclass($1) AS t`, [`${ident(stateSchema)}.policy_files`]);
  const map = new Map<string, Recorded>();
  if (!exists.rows[0].t) return map;
  const { rows } = await db.query(
    `SELECT table_schema, table_name, checksum, fingerprint, applied_at, applied_by FROM ${ident(stateSchema)}.policy_files`,
  );
  for (const r of rows) map.set(`${r.table_schema}\u0000${r.table_name}`, r);
  return map;
}

/**
 * Applies the policy files: checks the roles first (refuses unsafe application roles, creates
 * missing ones NOLOGIN), then, one transaction per table with lock_timeout and retry, runs each
 * file whose checksum changed or whose table drifted since it was applied, and records its
 * checksum in the bookkeeping schema. Running it twice applies nothing the second time.
 *
 * @example const result = await applyPolicies({ manifest, policiesDir: 'policies' }); result.ok
 */
export async function applyPolicies(options: ApplyPoliciesOptions): Promise<ApplyPoliciesResult> {
  const { manifest } = options;
  const files = await readPolicyFiles(options.policiesDir ?? 'policies');
  const dryRun = Boolean(options.dryRun);
  return withClient(options, 'crm-tenancy policies', async (client) => {
    // One apply at a time: two at once failed with "tuple concurrently updated" and left tables
    // without RLS, policies or grants.
    const holder = await tryAdvisoryLock(client, 'policies', manifest.stateSchema);
    if (holder) {
      throw new TenancyError('locked', `another policies apply is running (pid ${holder.pid}, ${holder.applicationName || 'no application name'})`, {
        hint: `wait for it to finish (pg_stat_activity, pid ${holder.pid}), then run again`,
      });
    }
    try {
      return await applyLocked(client, options, files, dryRun);
    } finally {
      await releaseAdvisoryLock(client, 'policies', manifest.stateSchema).catch(() => {});
    }
  });
}

async function applyLocked(
  client: pg.ClientBase,
  options: ApplyPoliciesOptions,
  files: PolicyFile[],
  dryRun: boolean,
): Promise<ApplyPoliciesResult> {
  const logger = options.logger ?? silentLogger;
  const { manifest } = options;
  const lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_POLICY_LOCK_TIMEOUT_MS;
  const warnings: string[] = [];
  const { known, unknown } = partitionFiles(manifest, files);
  const tables: AppliedTable[] = [];
  for (const f of unknown) {
    const message = `${f.file} is for ${f.schema}.${f.table}, which is not the tenant table or a scoped table of the manifest; skipped`;
    warnings.push(message);
    logger.warn(message);
    tables.push({ schema: f.schema, table: f.table, file: f.file, status: 'skipped', reason: 'not in the manifest', checksum: f.checksum, dropped: [], attempts: 0 });
  }
  const roles = await checkRoles(client, manifest);
  if (roles.refusals.length > 0) {
    return { tables, rolesCreated: [], refusals: roles.refusals, preflight: [], warnings, dryRun, ok: false };
  }
  const preflight = await applyPreflight(client, manifest, known);
  if (preflight.length > 0) {
    if (!options.force) return { tables, rolesCreated: [], refusals: [], preflight, warnings, dryRun, ok: false };
    const message = `--force: applying although ${preflight.length} scoped table(s) are not ready (${preflight.map((p) => `${p.schema}.${p.table}`).join(', ')})`;
    warnings.push(message);
    logger.warn(message);
  }
  if (roles.missing.length > 0 && !dryRun) {
    await createMissingRoles(client, roles.missing);
    for (const m of roles.missing) {
      const message = `created ${m.kind === 'app' ? 'application' : 'bypass'} role ${m.role} NOLOGIN (it did not exist): give it LOGIN and a password, or GRANT it to the role your ${m.kind === 'app' ? 'application' : 'support tool'} logs in as`;
      warnings.push(message);
      logger.warn(message);
    }
  }
  if (!dryRun) await ensureStateSchema(client, manifest.stateSchema);
  const recorded = await readRecorded(client, manifest.stateSchema);
  const state = ident(manifest.stateSchema);
  const roleNames = manifestRoles(manifest);
  for (const f of known) {
    const previous = recorded.get(`${f.schema}\u0000${f.table}`);
    const now = await readFingerprint(client, f.schema, f.table);
    let reason: string;
    if (!previous) reason = 'never applied';
    else if (previous.checksum !== f.checksum) reason = 'file changed';
    else if (!sameFingerprint(previous.fingerprint, now)) reason = 'live policies drifted since the last apply';
    else {
      tables.push({ schema: f.schema, table: f.table, file: f.file, status: 'unchanged', reason: 'checksum and live state unchanged', checksum: f.checksum, dropped: [], attempts: 0 });
      continue;
    }
    if (dryRun) {
      tables.push({ schema: f.schema, table: f.table, file: f.file, status: 'would-apply', reason, checksum: f.checksum, dropped: [], attempts: 0 });
      continue;
    }
    let attempts = 0;
    try {
      const result = await withLockRetry(
        async (attempt) => {
          attempts = attempt;
          return withTransaction(
            client,
            async (tx) => {
              await muteTrigger(tx);
              const executed = await executePolicyFile(tx, f, roleNames);
              await tx.query(
                `INSERT INTO ${state}.policy_files (table_schema, table_name, file, checksum, fingerprint)
                 VALUES ($1, $2, $3, $4, $5::jsonb)
                 ON CONFLICT (table_schema, table_name) DO UPDATE
                   SET file = EXCLUDED.file, checksum = EXCLUDED.checksum, fingerprint = EXCLUDED.fingerprint,
                       applied_by = current_user, applied_at = clock_timestamp()`,
                [f.schema, f.table, f.file, f.checksum, JSON.stringify(await readFingerprint(tx, f.schema, f.table))],
              );
              return executed;
            },
            { lockTimeoutMs },
          );
        },
        { logger, label: `policies ${f.schema}.${f.table}`, attempts: options.attempts },
      );
      for (const name of result.dropped) {
        const message = `${f.schema}.${f.table}: dropped policy ${name}, which no policy file creates (add it to ${f.file} to keep it)`;
        warnings.push(message);
        logger.warn(message);
      }
      logger.info(`${f.schema}.${f.table}: applied ${f.file} (${reason})`);
      tables.push({ schema: f.schema, table: f.table, file: f.file, status: 'applied', reason, checksum: f.checksum, dropped: result.dropped, attempts });
    } catch (error) {
      const err = toTenancyError(error, `${f.file}`);
      logger.warn(`${f.schema}.${f.table}: ${err.message}`);
      tables.push({ schema: f.schema, table: f.table, file: f.file, status: 'failed', reason: err.message, checksum: f.checksum, dropped: [], attempts });
    }
  }
  const partitionTrigger = await syncPartitionTrigger(client, manifest, { dryRun, lockTimeoutMs });
  if (partitionTrigger.status === 'failed') {
    warnings.push(`partition trigger ${partitionTrigger.name}: ${partitionTrigger.reason}`);
    logger.warn(`partition trigger ${partitionTrigger.name}: ${partitionTrigger.reason}`);
  } else if (partitionTrigger.action !== 'none') {
    logger.info(`partition trigger ${partitionTrigger.name}: ${partitionTrigger.status} (${partitionTrigger.reason})`);
  }
  return {
    tables,
    rolesCreated: roles.missing,
    refusals: [],
    preflight,
    partitionTrigger,
    warnings,
    dryRun,
    ok: tables.every((t) => t.status !== 'failed') && partitionTrigger.status !== 'failed',
  };
}

export type DiffOptions = Common & { lockTimeoutMs?: number };

export interface PolicyDiffResult {
  /** Every difference, each naming its table (and policy / role / function). */
  drift: PolicyDrift[];
  /** Tables compared, in file order. */
  tables: { schema: string; table: string; file: string; drifted: boolean }[];
  /** Scoped tables of the manifest without a policy file. */
  missingFiles: string[];
}

/**
 * Compares the files with the live database: each file runs in a transaction that is rolled back
 * (on a table with its policies dropped first), and the pg_get_expr-normalised result is compared
 * with what the database has. Takes each table's lock for a moment (lock_timeout, retried).
 */
export async function policyDiff(options: DiffOptions): Promise<PolicyDiffResult> {
  const { manifest } = options;
  const files = await readPolicyFiles(options.policiesDir ?? 'policies');
  const { known } = partitionFiles(manifest, files);
  const roleNames = manifestRoles(manifest);
  return withClient(options, 'crm-tenancy policies', async (client) => {
    const drift: PolicyDrift[] = [];
    const tables: PolicyDiffResult['tables'] = [];
    for (const f of known) {
      let found: PolicyDrift[];
      try {
        found = await withLockRetry(
          () =>
            withRollback(
              client,
              async (tx) => {
                await muteTrigger(tx);
                const { before, after, partitions } = await executePolicyFile(tx, f, roleNames);
                return [
                  ...comparePolicyState(f.schema, f.table, after, before),
                  ...partitions.flatMap((p) => comparePolicyState(p.schema, p.table, p.after, p.before)),
                ];
              },
              { lockTimeoutMs: options.lockTimeoutMs ?? DEFAULT_POLICY_LOCK_TIMEOUT_MS },
            ),
          { logger: options.logger, label: `policies diff ${f.schema}.${f.table}` },
        );
      } catch (error) {
        const err = toTenancyError(error);
        if (err.code === 'lock-timeout') throw err;
        found = [
          (await readFingerprint(client, f.schema, f.table)).exists
            ? { schema: f.schema, table: f.table, kind: 'missing-policy', detail: `the file does not run: ${err.message}` }
            : { schema: f.schema, table: f.table, kind: 'missing-table', detail: `table ${f.schema}.${f.table} does not exist` },
        ];
      }
      drift.push(...found);
      tables.push({ schema: f.schema, table: f.table, file: f.file, drifted: found.length > 0 });
    }
    const covered = new Set(known.map((f) => f.table));
    const missingFiles = [manifest.tenant.table, ...manifest.tables.map((t) => t.name)].filter((t) => !covered.has(t));
    return { drift, tables, missingFiles };
  });
}

export interface PolicyStatusRow {
  schema: string;
  table: string;
  exists: boolean;
  rlsEnabled: boolean;
  rlsForced: boolean;
  policies: { name: string; command: string; permissive: boolean; roles: string[] }[];
  /** The file's checksum now, when there is a file. */
  fileChecksum: string | null;
  /** The checksum applied last, when it was ever applied. */
  appliedChecksum: string | null;
  appliedAt: string | null;
  /** The file changed since it was applied (or was never applied). */
  pending: boolean;
  /** The live policies differ from what the last apply left. */
  drifted: boolean;
}

export interface PolicyStatusResult {
  tables: PolicyStatusRow[];
  /** The event trigger that secures new partitions: wanted, installed, current. */
  partitionTrigger: PartitionTriggerState;
}

/**
 * Per table (tenant table, then scoped tables): RLS enabled / forced, its policies, the applied
 * checksum and whether the live state drifted since. Read-only; never creates the bookkeeping schema.
 */
export async function policyStatus(options: Common): Promise<PolicyStatusResult> {
  const { manifest } = options;
  let files: PolicyFile[] = [];
  try {
    files = await readPolicyFiles(options.policiesDir ?? 'policies');
  } catch (error) {
    if (toTenancyError(error).code !== 'io') throw error;
    options.logger?.warn(toTenancyError(error).message);
  }
  return withClient(options, 'crm-tenancy policies', async (client) => {
    const recorded = await readRecorded(client, manifest.stateSchema);
    const rows: PolicyStatusRow[] = [];
    for (const table of [manifest.tenant.table, ...manifest.tables.map((t) => t.name)]) {
      const live = await readFingerprint(client, manifest.schema, table);
      const file = files.find((f) => f.schema === manifest.schema && f.table === table);
      const previous = recorded.get(`${manifest.schema}\u0000${table}`);
      rows.push({
        schema: manifest.schema,
        table,
        exists: live.exists,
        rlsEnabled: live.rlsEnabled,
        rlsForced: live.rlsForced,
        policies: live.policies.map((p) => ({ name: p.name, command: p.command, permissive: p.permissive, roles: p.roles })),
        fileChecksum: file?.checksum ?? null,
        appliedChecksum: previous?.checksum ?? null,
        appliedAt: previous ? new Date(previous.applied_at).toISOString() : null,
        pending: file !== undefined && previous?.checksum !== file.checksum,
        drifted: previous !== undefined && !sameFingerprint(previous.fingerprint, live),
      });
    }
    return { tables: rows, partitionTrigger: await readPartitionTrigger(client, manifest) };
  });
}

// `policies apply`: the changed files, one transaction per table (lock_timeout + retry), after the role checks and the preflight.
import type pg from 'pg';
import { withClient } from '../db/connection.js';
import { ident } from '../db/quote.js';
import { withLockRetry, withTransaction } from '../db/transaction.js';
import { TenancyError, toTenancyError } from '../errors.js';
import { silentLogger } from '../logger.js';
import { ensureStateSchema } from '../state/state-schema.js';
import { readPolicyFiles, type PolicyFile } from './policy-files.js';
import { DEFAULT_POLICY_LOCK_TIMEOUT_MS, manifestRoles, muteTrigger, partitionFiles, readRecorded, sameFingerprint, type PoliciesOptions } from './policy-state.js';
import { executePolicyFile, readFingerprint } from './live-policies.js';
import { checkRoles, createMissingRoles, type RoleRefusal } from './roles.js';
import { applyPreflight, type ApplyPreflightRefusal } from './apply-preflight.js';
import { releaseAdvisoryLock, tryAdvisoryLock } from '../state/locks.js';
import { syncPartitionTrigger, type PartitionTriggerOutcome } from './partition-trigger.js';

export interface ApplyPoliciesOptions extends PoliciesOptions {
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


export { policyDiff, type DiffOptions, type PolicyDiffResult } from './policy-diff.js';
export { policyStatus, type PolicyStatusRow, type PolicyStatusResult } from './policy-status.js';
export { DEFAULT_POLICY_LOCK_TIMEOUT_MS } from './policy-state.js';

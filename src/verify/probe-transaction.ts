// The probe transaction (owner setup, then SET LOCAL ROLE and the tenant, always rolled back) and how a probe's error reads.
import type pg from 'pg';
import { ident } from '../db/quote.js';
import { withRollback } from '../db/transaction.js';
import { isPgServerError } from '../errors.js';
import { citusSetSql } from '../tenant/with-tenant.js';
import type { Outcome, ProbeEnv } from './verify-types.js';

/** A probe waits this long for a lock (a row the application holds) before it gives up with an error. */
export const PROBE_LOCK_TIMEOUT_MS = 5_000;
export const PROBE_STATEMENT_TIMEOUT_MS = 60_000;

const RLS_MESSAGE = /row-level security/i;

export function errorText(error: unknown): string {
  if (isPgServerError(error)) return `${error.message} (SQLSTATE ${error.code})`;
  return error instanceof Error ? error.message : String(error);
}

export const isPrivilegeError = (error: unknown): boolean => isPgServerError(error) && error.code === '42501';

export interface ProbeTxOptions {
  /** Silence ordinary triggers for the role's statement (see below). */
  quietTriggers?: boolean;
}

/**
 * Runs one probe transaction as `env.role`: `setup` runs first as the connecting role (it sees
 * every row), then SET LOCAL ROLE and the tenant setting (none when `tenant` is null), then `fn`.
 * On Citus the tenant is set as withTenant's `citus: true` does (SET LOCAL, forwarded to the workers).
 * Always rolled back.
 */
export async function probeTx<T>(
  env: Pick<ProbeEnv, 'client' | 'role' | 'manifest' | 'citus'>,
  tenant: string | null,
  setup: (tx: pg.ClientBase) => Promise<void>,
  fn: (tx: pg.ClientBase) => Promise<T>,
  options: ProbeTxOptions = {},
): Promise<T> {
  return withRollback(
    env.client,
    async (tx) => {
      await setup(tx);
      if (options.quietTriggers) {
        // Ordinary triggers fire before the policy check and could mask it (a validation trigger
        // raising, a trigger rewriting the tenant): replica mode silences them, RLS still applies.
        // Needs superuser; without it the probe runs with triggers on.
        await withSavepoint(tx, () => tx.query(`SET LOCAL session_replication_role = replica`)).catch(() => undefined);
      }
      await tx.query(`SET LOCAL ROLE ${ident(env.role)}`);
      if (tenant !== null && env.citus) {
        // Citus forwards SET LOCAL (never set_config) to the workers: withTenant's `citus: true` form.
        for (const statement of citusSetSql(env.manifest.tenant.setting, tenant)) await tx.query(statement);
        // Set before the propagation was on, the lock timeout stayed on the coordinator (a worker
        // waited for a locked row until the holder let go): set again, the workers' waits end too.
        await tx.query(`SET LOCAL lock_timeout = '${PROBE_LOCK_TIMEOUT_MS}ms'`);
      } else if (tenant !== null) await tx.query(`SELECT pg_catalog.set_config($1, $2, true)`, [env.manifest.tenant.setting, tenant]);
      return fn(tx);
    },
    { lockTimeoutMs: PROBE_LOCK_TIMEOUT_MS, statementTimeoutMs: PROBE_STATEMENT_TIMEOUT_MS },
  );
}

let savepoints = 0;

/** Runs fn under a savepoint: on error the transaction is back where it was, and the error is rethrown. */
export async function withSavepoint<T>(tx: pg.ClientBase, fn: () => Promise<T>): Promise<T> {
  const name = ident(`crm_tenancy_sp_${++savepoints}`);
  await tx.query(`SAVEPOINT ${name}`);
  try {
    const result = await fn();
    await tx.query(`RELEASE SAVEPOINT ${name}`);
    return result;
  } catch (error) {
    await tx.query(`ROLLBACK TO SAVEPOINT ${name}`);
    throw error;
  }
}

/** Citus refuses any UPDATE of a distributed table's distribution column, at planning, whatever the policies say. */
export const isCitusDistributionColumnUpdate = (error: unknown): boolean =>
  isPgServerError(error) && error.code === '0A000' && /modifying the partition value of rows is not allowed/.test(error.message);

/** How a rejected write reads: a privilege or policy error is a pass; a constraint reached means the policy let it through. */
export function writeOutcome(error: unknown, what: string): Outcome {
  if (isCitusDistributionColumnUpdate(error)) {
    return { status: 'pass', detail: `${what}: refused by Citus (a distributed table's distribution column cannot be updated), before the policies` };
  }
  if (isPgServerError(error) && error.code === '42501') {
    return RLS_MESSAGE.test(error.message)
      ? { status: 'pass', detail: `${what}: rejected by row-level security` }
      : { status: 'pass', detail: `${what}: rejected by privileges (${error.message}), not by a policy` };
  }
  if (isPgServerError(error) && error.code.startsWith('23')) {
    // Constraints are checked after the policies' WITH CHECK: reaching one means the policy let it through.
    return { status: 'fail', detail: `${what}: passed the policies, stopped only by ${errorText(error)}` };
  }
  return { status: 'error', detail: `${what}: inconclusive, failed before the policy check with ${errorText(error)}` };
}

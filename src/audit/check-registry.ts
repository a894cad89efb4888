// Which code runs each policy and data check: one registry per kind, so that a check file no code
// handles is an internal error (exit 2) instead of a check that silently finds nothing.
import type pg from 'pg';
import type { Catalog } from '../db/catalog.js';
import type { Manifest } from '../config/manifest.js';
import { TenancyError } from '../errors.js';
import { planCrossTenant, planDuplicates, planNullTenant, type DataPlan, type DataPlanner } from './data-checks.js';
import {
  permissivePolicyBypass,
  policyNotTenantScoped,
  unsafeSettingRead,
  volatileFunctionNames,
  type RawFinding,
  type SettingReadRow,
} from './policy-checks.js';
import type { WrapperFunctions } from './policy-expressions.js';
import { citusPolicyNotDistributable } from '../citus/citus-policy-check.js';
import { planPolymorphicReferences } from './polymorphic-references.js';
import type { CheckDefinition } from './types.js';
import { planUnknownTenant } from './unknown-tenant.js';

/** What a policy check reads besides its own SQL's rows. */
export interface PolicyCheckContext {
  setting: string;
  bypassReasons: Map<string, string>;
  wrappers?: WrapperFunctions;
  /** The manifest says distribution citus (or audit --target citus): policies are read as Citus needs them. */
  citus?: boolean;
  /** Runs the check's SQL with the audit's named parameters. */
  rows: (client: pg.ClientBase, sql: string) => Promise<unknown[]>;
}

/** A policy check: its SQL returns policy rows, TypeScript (the PostgreSQL parser) judges them. */
export type PolicyCheck = (client: pg.ClientBase, check: CheckDefinition, context: PolicyCheckContext) => Promise<RawFinding[]>;

export const POLICY_CHECKS: Readonly<Record<string, PolicyCheck>> = {
  'policy-not-tenant-scoped': async (client, check, { rows, setting, wrappers }) =>
    policyNotTenantScoped((await rows(client, check.sql)) as never, setting, wrappers),
  'permissive-policy-bypass': async (client, check, { rows, setting, bypassReasons, wrappers }) =>
    permissivePolicyBypass((await rows(client, check.sql)) as never, setting, bypassReasons, wrappers),
  'unsafe-setting-read': async (client, check, { rows, setting, wrappers, citus }) => {
    const found = (await rows(client, check.sql)) as SettingReadRow[];
    return unsafeSettingRead(found, setting, await volatileFunctionNames(client, found, setting, wrappers), wrappers, citus);
  },
  'citus-policy-not-distributable': async (client, check, { rows, setting, wrappers }) => {
    const found = (await rows(client, check.sql)) as SettingReadRow[];
    return citusPolicyNotDistributable(found, setting, await volatileFunctionNames(client, found, setting, wrappers), wrappers);
  },
};

/** A data check: a planner, and the `-- @section` templates its file must provide. */
export interface DataCheck {
  sections: readonly string[];
  plan: DataPlanner;
}

export const DATA_CHECKS: Readonly<Record<string, DataCheck>> = {
  'null-tenant': { sections: ['condition'], plan: planNullTenant },
  'cross-tenant-reference': {
    sections: ['fk_join', 'fk_condition', 'grouped_join', 'grouped_condition', 'pair_scan', 'pair_join', 'pair_condition', 'pair_count', 'untyped_count'],
    // Foreign keys, then polymorphic pairs (src/audit/polymorphic-references.ts).
    plan: (check, context, plan) => {
      planCrossTenant(check, context, plan);
      planPolymorphicReferences(check, context, plan);
    },
  },
  'duplicate-within-tenant': { sections: ['query'], plan: planDuplicates },
  'unknown-tenant': { sections: ['join', 'condition'], plan: planUnknownTenant },
};

/**
 * Every policy and data check has its implementation (and a data check every section it needs);
 * catalog checks are their SQL. Throws `internal`: a check that would run nothing must not pass.
 */
export function assertImplemented(checks: readonly CheckDefinition[]): void {
  const problems: string[] = [];
  for (const check of checks) {
    if (check.kind === 'policy' && !Object.hasOwn(POLICY_CHECKS, check.id)) {
      problems.push(`${check.file}: policy check ${check.id} has no implementation in src/audit/check-registry.ts`);
    }
    if (check.kind === 'data') {
      const data = Object.hasOwn(DATA_CHECKS, check.id) ? DATA_CHECKS[check.id] : undefined;
      if (!data) problems.push(`${check.file}: data check ${check.id} has no planner in src/audit/check-registry.ts`);
      for (const section of data?.sections ?? []) {
        if (!check.sections[section]) problems.push(`${check.file}: data check ${check.id} lacks its "-- @${section}" section`);
      }
    }
  }
  if (problems.length > 0) {
    throw new TenancyError('internal', `${problems.length} check${problems.length === 1 ? '' : 's'} cannot run: the audit would pass them silently`, {
      problems,
    });
  }
}

/** Plans every data check among `checks` (implementations asserted first). */
export function planDataChecks(manifest: Manifest, catalog: Catalog, checks: readonly CheckDefinition[], deep = false): DataPlan {
  assertImplemented(checks);
  const plan: DataPlan = { scans: [], duplicates: [], proofs: [] };
  for (const check of checks) if (check.kind === 'data') DATA_CHECKS[check.id].plan(check, { manifest, catalog, deep }, plan);
  return plan;
}

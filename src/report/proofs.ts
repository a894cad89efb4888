// How each data check knew its answer (proven by constraints, or the rows scanned), in words for the reports.
import type { AuditResult, DataCheckStatus } from '../audit/types.js';

/** Why a proof can be wrong, and what to do then (printed wherever something was proven). */
export const DEEP_HINT =
  'proofs by constraint assume every row went through the constraints: run `crm-tenancy audit --deep` after a logical-replication catch-up, a restore, or any write with session_replication_role = replica';

/**
 * One line per data check that ran.
 *
 * @example dataCheckLines(result) // => ['null-tenant: proven by constraints (27: company_id is NOT NULL)', 'cross-tenant-reference: scanned (3)']
 */
export function dataCheckLines(result: AuditResult): string[] {
  return result.dataChecks.map((status) => `${status.check}: ${describeStatus(result, status)}`);
}

function describeStatus(result: AuditResult, status: DataCheckStatus): string {
  const proofs = [...new Set(result.proofs.filter((p) => p.check === status.check && p.status === 'proven').map((p) => p.proof))].join('; ');
  const deep = result.summary.deep ? ' (--deep)' : '';
  switch (status.status) {
    case 'none':
      return 'nothing to check';
    case 'proven':
      return `proven by constraints or triggers, not scanned (${status.proven}: ${proofs})`;
    case 'scanned':
      return `scanned${deep} (${status.scanned})`;
    case 'mixed':
      return `scanned (${status.scanned}), proven by constraints or triggers (${status.proven}: ${proofs})`;
  }
}

/** True when some answer was proven rather than scanned: the reports then print DEEP_HINT. */
export const anyProven = (result: AuditResult): boolean => result.dataChecks.some((d) => d.proven > 0);

// A typed audit result built by hand, for the report renderers (pure functions of it).
import { loadChecks } from '../../src/audit/check-definitions.js';
import type { AuditResult, AuditSummary, CheckDefinition, Finding, Severity } from '../../src/audit/types.js';
import { findingCounts } from '../../src/audit/types.js';

let checks: CheckDefinition[] | undefined;

export type FindingInput = Partial<Finding> & Pick<Finding, 'check' | 'severity' | 'message'>;

/** The result an audit with these findings would return under --fail-on (summary counts and exit code derived as the runner does). */
export async function auditResult(inputs: FindingInput[], failOn: Severity | 'never' = 'error', extra: Partial<AuditResult> = {}): Promise<AuditResult> {
  checks ??= await loadChecks();
  const findings: Finding[] = inputs.map((f, i) => ({
    table: null,
    object: null,
    count: null,
    samples: [],
    remediation: checks!.find((c) => c.id === f.check)!.remediation,
    fingerprint: i.toString(16).padStart(16, '0'),
    ...f,
  }));
  const summary: AuditSummary = {
    ...findingCounts(findings, failOn),
    checks: checks.length,
    tables: 3,
    scannedTables: 1,
    skippedScans: 0,
    deep: false,
    durationMs: 1234,
    server: 'PostgreSQL 15',
  };
  return {
    version: 1,
    schema: 'public',
    tables: ['public.deals', 'public.contacts', 'public.companies'],
    checks,
    findings,
    runs: checks.map((c) => ({ check: c.id, ms: 5, findings: 0 })),
    dataChecks: [],
    proofs: [],
    unusedWaivers: [],
    expiredWaivers: [],
    summary,
    ok: summary.failing === 0,
    exitCode: summary.failing > 0 ? 1 : 0,
    ...extra,
  };
}

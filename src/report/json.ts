// The JSON report: { version: 1, findings: [...], dataChecks: [...], proofs: [...], summary: {...} } — stable for scripts.
import type { AuditResult } from '../audit/types.js';

export function renderJson(result: AuditResult): string {
  return `${JSON.stringify(
    {
      version: 1,
      findings: result.findings.map((f) => ({
        check: f.check,
        severity: f.severity,
        table: f.table,
        object: f.object,
        count: f.count,
        samples: f.samples,
        message: f.message,
        remediation: f.remediation,
        fingerprint: f.fingerprint,
        ...(f.waived ? { waived: f.waived } : {}),
      })),
      // Per data check: proven by constraints or scanned; per table / foreign key / key in `proofs`.
      dataChecks: result.dataChecks,
      proofs: result.proofs,
      // `audit --since` reads `snapshot`; `incremental` says what a --since run did per table.
      ...(result.incremental ? { incremental: result.incremental } : {}),
      ...(result.snapshot ? { snapshot: result.snapshot } : {}),
      summary: {
        ...result.summary,
        exitCode: result.exitCode,
        unusedWaivers: result.unusedWaivers,
        expiredWaivers: result.expiredWaivers,
      },
    },
    null,
    2,
  )}\n`;
}

/** A baseline file: the fingerprints of the current findings (accepted from now on). */
export function renderBaseline(result: AuditResult): string {
  return `${JSON.stringify({ version: 1, fingerprints: [...new Set(result.findings.map((f) => f.fingerprint))].sort() }, null, 2)}\n`;
}

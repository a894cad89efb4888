// The audit result as JSON: { version: 1, findings: [...], summary: {...} } (the contract).
import type { AuditResult } from '../audit/types.js';

/** A finding as JSON: the contract's fields in order, plus `waived` (null when it gates). */
export interface JsonFinding {
  check: string;
  severity: string;
  table: string | null;
  object: string | null;
  count: number | null;
  samples: unknown[];
  message: string;
  remediation: string;
  fingerprint: string;
  waived: { by: 'waiver' | 'baseline'; reason: string; expires?: string } | null;
}

/** The JSON document, as data (renderJson stringifies it). */
export function jsonDocument(result: AuditResult): {
  version: 1;
  findings: JsonFinding[];
  summary: AuditResult['summary'] & {
    exitCode: number;
    unusedWaivers: AuditResult['unusedWaivers'];
    expiredWaivers: AuditResult['expiredWaivers'];
  };
} {
  return {
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
      waived: f.waived ?? null,
    })),
    summary: {
      ...result.summary,
      exitCode: result.exitCode,
      unusedWaivers: result.unusedWaivers,
      expiredWaivers: result.expiredWaivers,
    },
  };
}

/**
 * Renders the result as pretty-printed JSON.
 *
 * @example renderJson(result) // => '{\n  "version": 1,\n  "findings": [ … ],\n  "summary": { "error": 3, … } }'
 */
export function renderJson(result: AuditResult): string {
  return `${JSON.stringify(jsonDocument(result), null, 2)}\n`;
}

// SARIF 2.1.0 for GitHub code scanning / GitLab: one rule per check, one result per finding.
import type { AuditResult, Severity } from '../audit/types.js';
import path from 'node:path';

/**
 * The manifest as a SARIF artifact URI: relative to the working directory (the repository root in
 * CI), forward slashes, percent-encoded; GitHub code scanning rejects absolute paths.
 *
 * @example artifactUri('/repo/config/tenancy.yaml', '/repo') // => 'config/tenancy.yaml'
 */
export function artifactUri(file: string, cwd: string = process.cwd()): string {
  const relative = path.isAbsolute(file) ? path.relative(cwd, file) : path.normalize(file);
  return encodeURI(relative.split(path.sep).join('/'));
}

const LEVEL: Record<Severity, 'error' | 'warning' | 'note'> = { error: 'error', warning: 'warning', info: 'note' };

export function renderSarif(result: AuditResult, toolVersion: string, manifestFile = 'tenancy.yaml'): string {
  const rules = result.checks.map((c) => ({
    id: c.id,
    name: c.id.replace(/(^|-)([a-z])/g, (_m, _d, ch: string) => ch.toUpperCase()),
    shortDescription: { text: c.title },
    fullDescription: { text: c.description || c.title },
    help: { text: `${c.remediation} See ${c.docs} in crm-tenancy.`, markdown: `${c.remediation}\n\nSee \`${c.docs}\` in crm-tenancy.` },
    defaultConfiguration: { level: LEVEL[c.severity] },
    properties: { tags: ['security', 'multi-tenancy', c.kind] },
  }));
  const ruleIndex = new Map(rules.map((r, i) => [r.id, i]));
  const results = result.findings.map((f) => ({
    ruleId: f.check,
    ruleIndex: ruleIndex.get(f.check),
    level: LEVEL[f.severity],
    message: { text: `${f.message}${f.samples.length ? ` (e.g. ${JSON.stringify(f.samples)})` : ''}. Fix: ${f.remediation}` },
    // Findings are about database objects: point at the manifest (a real file) with a logical location.
    locations: [
      {
        physicalLocation: { artifactLocation: { uri: artifactUri(manifestFile), uriBaseId: '%SRCROOT%' }, region: { startLine: 1 } },
        logicalLocations: [
          {
            fullyQualifiedName: [f.table, f.object].filter(Boolean).join(':') || result.schema,
            kind: f.table ? 'table' : 'object',
          },
        ],
      },
    ],
    partialFingerprints: { crmTenancyFingerprint: f.fingerprint },
    ...(f.waived ? { suppressions: [{ kind: 'external', justification: f.waived.reason }] } : {}),
    properties: { count: f.count, samples: f.samples },
  }));
  const sarif = {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: { driver: { name: 'crm-tenancy', version: toolVersion, rules } },
        results,
        properties: { summary: result.summary, dataChecks: result.dataChecks },
      },
    ],
  };
  return `${JSON.stringify(sarif, null, 2)}\n`;
}

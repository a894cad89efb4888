// The audit result as SARIF 2.1.0 for GitHub code scanning (and any SARIF viewer).
import type { AuditResult, Finding, Severity } from '../audit/types.js';

export const SARIF_SCHEMA = 'https://json.schemastore.org/sarif-2.1.0.json';
const LEVEL: Record<Severity, 'error' | 'warning' | 'note'> = { error: 'error', warning: 'warning', info: 'note' };
const SECURITY_SEVERITY: Record<Severity, string> = { error: '8.0', warning: '5.0', info: '2.0' };

export interface SarifOptions {
  /**
   * The file findings are attached to (GitHub needs a physical location to show an alert): the
   * manifest, relative to the repository root. Default `tenancy.yaml`.
   */
  manifestFile?: string;
  toolVersion?: string;
  /** Where the check pages live, e.g. https://github.com/org/repo/blob/main/ ; docs/checks/<id>.md is appended. */
  docsBaseUri?: string;
}

const pascal = (id: string) => id.replace(/(^|-)([a-z0-9])/g, (_m, _d, c: string) => c.toUpperCase());

function location(f: Finding, manifestFile: string) {
  const logical = [] as { fullyQualifiedName: string; kind: string }[];
  if (f.table) logical.push({ fullyQualifiedName: f.table, kind: 'table' });
  if (f.object) logical.push({ fullyQualifiedName: f.object, kind: 'object' });
  if (logical.length === 0) logical.push({ fullyQualifiedName: '(database)', kind: 'module' });
  return {
    physicalLocation: { artifactLocation: { uri: manifestFile }, region: { startLine: 1 } },
    logicalLocations: logical,
  };
}

/** The SARIF log, as data. */
export function sarifDocument(result: AuditResult, options: SarifOptions = {}): Record<string, unknown> {
  const manifestFile = options.manifestFile ?? 'tenancy.yaml';
  const index = new Map(result.checks.map((c, i) => [c.id, i]));
  const rules = result.checks.map((c) => ({
    id: c.id,
    name: pascal(c.id),
    shortDescription: { text: c.title },
    fullDescription: { text: c.description || c.title },
    help: {
      text: `${c.description}\n\nHow to fix: ${c.remediation}\n\nSee ${c.docs}.`,
      markdown: `**${c.title}**\n\n${c.description}\n\n**How to fix:** ${c.remediation}\n\nSee [${c.docs}](${options.docsBaseUri ? `${options.docsBaseUri}${c.docs}` : c.docs}).`,
    },
    ...(options.docsBaseUri ? { helpUri: `${options.docsBaseUri}${c.docs}` } : {}),
    defaultConfiguration: { level: LEVEL[c.severity] },
    properties: { tags: ['security', 'multi-tenancy', c.kind], 'security-severity': SECURITY_SEVERITY[c.severity] },
  }));
  const results = result.findings.map((f) => ({
    ruleId: f.check,
    ...(index.has(f.check) ? { ruleIndex: index.get(f.check) } : {}),
    level: LEVEL[f.severity],
    message: { text: `${f.message}${f.count !== null ? ` (${f.count})` : ''}${f.samples.length ? `; e.g. ${JSON.stringify(f.samples)}` : ''}` },
    locations: [location(f, manifestFile)],
    partialFingerprints: { 'crmTenancyFinding/v1': f.fingerprint },
    properties: { severity: f.severity, table: f.table, object: f.object, count: f.count, samples: f.samples, remediation: f.remediation },
    ...(f.waived
      ? { suppressions: [{ kind: 'external', status: 'accepted', justification: `${f.waived.by}: ${f.waived.reason}` }] }
      : {}),
  }));
  return {
    $schema: SARIF_SCHEMA,
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'crm-tenancy',
            ...(options.toolVersion ? { version: options.toolVersion, semanticVersion: options.toolVersion } : {}),
            ...(options.docsBaseUri ? { informationUri: options.docsBaseUri } : {}),
            rules,
          },
        },
        automationDetails: { id: `crm-tenancy-audit/${result.schema}/` },
        results,
        properties: { summary: result.summary },
      },
    ],
  };
}

/**
 * Renders SARIF 2.1.0: one rule per check (id, help, default level), one result per finding
 * (ruleId, level, message, the manifest as physical and the table/object as logical location,
 * a stable partial fingerprint; waived findings carry a suppression).
 */
export function renderSarif(result: AuditResult, options: SarifOptions = {}): string {
  return `${JSON.stringify(sarifDocument(result, options), null, 2)}\n`;
}

// SARIF 2.1.0 for GitHub code scanning / GitLab: one rule per check (help, helpUri), one result per finding, located where it is declared.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { AuditResult, CheckDefinition, Finding, Severity } from '../audit/types.js';
import { packageRoot as ownPackageRoot } from '../paths.js';
import { docsUrl } from './docs-url.js';
import { manifestLocator } from './manifest-locations.js';

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

export interface SarifOptions {
  toolVersion?: string;
  /** The manifest file (default tenancy.yaml), relative to workingDirectory or absolute. */
  manifestFile?: string;
  /** Its text: results are located at the line that declares their table (without it: line 1). */
  manifestText?: string;
  /** Web address docs/checks/<id>.md is appended to (helpUri); no helpUri without it. */
  docsBaseUrl?: string;
  /** Where relative paths are read from (default: the process's working directory). */
  workingDirectory?: string;
  /** What artifact URIs are relative to: the repository checkout (default: workingDirectory). */
  sourceRoot?: string;
  /** The crm-tenancy package root, where docs/checks/ lives (default: this package). */
  packageRoot?: string;
}

const LEVEL: Record<Severity, 'error' | 'warning' | 'note'> = { error: 'error', warning: 'warning', info: 'note' };
/** GitHub code scanning ranks `security` rules by this score (critical ≥ 9, high ≥ 7, medium ≥ 4, low). */
const SECURITY_SEVERITY: Record<Severity, string> = { error: '8.0', warning: '5.0', info: '2.0' };
/** A migration or policy file a finding names (e.g. `policies/deals.sql`). */
const NAMED_FILE = /\b((?:migrations|policies)\/[\w./-]+\.(?:sql|js|cjs|mjs|ts))\b/;

interface PhysicalLocation {
  artifactLocation: { uri: string; uriBaseId: '%SRCROOT%' };
  region: { startLine: number; startColumn?: number };
}

export function renderSarif(result: AuditResult, options: SarifOptions = {}): string {
  const cwd = options.workingDirectory ?? process.cwd();
  const root = options.sourceRoot ?? cwd;
  const manifestFile = options.manifestFile ?? 'tenancy.yaml';
  const manifestUri = artifactUri(path.resolve(cwd, manifestFile), root);
  const locator = options.manifestText !== undefined ? manifestLocator(options.manifestText) : undefined;
  const checks = new Map(result.checks.map((c) => [c.id, c]));
  const inRepository = (file: string): string | undefined => {
    const relative = path.relative(root, file);
    if (relative.startsWith('..') || path.isAbsolute(relative) || relative.split(path.sep).includes('node_modules')) return undefined;
    return existsSync(file) ? artifactUri(file, root) : undefined;
  };

  /**
   * The table's line in the manifest; else a migration or policy file the finding names; else the
   * role, function or setting's line in the manifest; else the check's doc page when it is part of
   * the repository (crm-tenancy's own, or vendored); else the manifest's first line.
   */
  const locate = (f: Finding): PhysicalLocation => {
    const manifestAt = (pos: { line: number; column: number }): PhysicalLocation => ({
      artifactLocation: { uri: manifestUri, uriBaseId: '%SRCROOT%' },
      region: { startLine: pos.line, startColumn: pos.column },
    });
    const fileAt = (uri: string): PhysicalLocation => ({ artifactLocation: { uri, uriBaseId: '%SRCROOT%' }, region: { startLine: 1 } });
    const table = locator?.table(f, result.schema);
    if (table) return manifestAt(table);
    // Without the manifest's text a table's line is unknown: the manifest that lists it, line 1.
    if (f.table && !locator) return fileAt(manifestUri);
    const named = NAMED_FILE.exec(`${f.object ?? ''} ${f.message}`)?.[1];
    const namedUri = named ? inRepository(path.resolve(cwd, named)) : undefined;
    if (namedUri) return fileAt(namedUri);
    const declared = locator?.declaration(f, result.schema);
    if (declared) return manifestAt(declared);
    const check = checks.get(f.check);
    const docUri = check ? inRepository(path.resolve(options.packageRoot ?? ownPackageRoot, check.docs)) : undefined;
    if (docUri) return fileAt(docUri);
    return { artifactLocation: { uri: manifestUri, uriBaseId: '%SRCROOT%' }, region: { startLine: 1 } };
  };

  const helpUri = (c: CheckDefinition) => (options.docsBaseUrl ? docsUrl(options.docsBaseUrl, c.docs) : undefined);
  const rules = result.checks.map((c) => ({
    id: c.id,
    name: c.id.replace(/(^|-)([a-z])/g, (_m, _d, ch: string) => ch.toUpperCase()),
    shortDescription: { text: c.title },
    fullDescription: { text: c.description || c.title },
    ...(helpUri(c) ? { helpUri: helpUri(c) } : {}),
    help: {
      text: `${c.title}.\n\nFix: ${c.remediation}\n\nMore: ${helpUri(c) ?? c.docs}`,
      markdown: `**${c.title}.**\n\n**Fix:** ${c.remediation}\n\nMore: [${c.docs}](${helpUri(c) ?? c.docs})`,
    },
    defaultConfiguration: { level: LEVEL[c.severity] },
    properties: { tags: ['security', 'multi-tenancy', c.kind], 'security-severity': SECURITY_SEVERITY[c.severity] },
  }));
  const ruleIndex = new Map(rules.map((r, i) => [r.id, i]));
  const results = result.findings.map((f) => ({
    ruleId: f.check,
    ruleIndex: ruleIndex.get(f.check),
    level: LEVEL[f.severity],
    message: { text: `${f.message}${f.samples.length ? ` (e.g. ${JSON.stringify(f.samples)})` : ''}. Fix: ${f.remediation}` },
    // Findings are about database objects: a file position (see locate) and the object as a logical location.
    locations: [
      {
        physicalLocation: locate(f),
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
        tool: {
          driver: {
            name: 'crm-tenancy',
            version: options.toolVersion ?? '0.0.0',
            ...(options.docsBaseUrl ? { informationUri: docsUrl(options.docsBaseUrl, 'README.md') } : {}),
            rules,
          },
        },
        results,
        properties: { summary: result.summary, dataChecks: result.dataChecks },
      },
    ],
  };
  return `${JSON.stringify(sarif, null, 2)}\n`;
}

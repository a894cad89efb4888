// One entry point for every audit output format (pure functions of the typed result).
import type { AuditResult } from '../audit/types.js';
import { packageDocsBaseUrl } from './docs-url.js';
import { renderJson } from './json.js';
import { renderJunit } from './junit.js';
import { renderMarkdown } from './markdown.js';
import { renderSarif } from './sarif.js';
import { renderText } from './text.js';

export const AUDIT_FORMATS = ['table', 'json', 'sarif', 'junit', 'markdown'] as const;
export type AuditFormat = (typeof AUDIT_FORMATS)[number];

export interface RenderOptions {
  /** SARIF: the tool version (default 0.0.0). */
  toolVersion?: string;
  /** SARIF: the manifest file findings point at (default tenancy.yaml). */
  manifestFile?: string;
  /** SARIF: the manifest's text, to point each finding at the line that declares its table (else line 1). */
  manifestText?: string;
  /** SARIF: the directory artifact URIs are relative to, the repository checkout (default: the working directory). */
  sourceRoot?: string;
  /**
   * SARIF helpUri and markdown links: the web address `docs/checks/<id>.md` is appended to
   * (default: the package's repository from its package.json, `…/blob/main`).
   */
  docsBaseUrl?: string;
  /** table: every finding with its message and samples, and the coverage matrix (the global --verbose). */
  verbose?: boolean;
}

/**
 * Renders an audit result in one of the formats of `crm-tenancy audit --format`; `table` is the
 * plain-text report the CLI prints.
 *
 * @example renderAudit(await runAudit({ databaseUrl, manifest }), 'markdown') // => '## crm-tenancy audit: ❌ failed …'
 */
export function renderAudit(result: AuditResult, format: AuditFormat, options: RenderOptions = {}): string {
  const docsBaseUrl = options.docsBaseUrl ?? packageDocsBaseUrl();
  switch (format) {
    case 'table':
      return renderText(result, { verbose: options.verbose });
    case 'json':
      return renderJson(result);
    case 'sarif':
      return renderSarif(result, {
        toolVersion: options.toolVersion,
        manifestFile: options.manifestFile,
        manifestText: options.manifestText,
        sourceRoot: options.sourceRoot,
        docsBaseUrl,
      });
    case 'junit':
      return renderJunit(result);
    case 'markdown':
      return renderMarkdown(result, { docsBaseUrl });
  }
}

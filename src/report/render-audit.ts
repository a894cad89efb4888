// One entry point for every audit output format (pure functions of the typed result).
import type { AuditResult } from '../audit/types.js';
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
  switch (format) {
    case 'table':
      return renderText(result, { verbose: options.verbose });
    case 'json':
      return renderJson(result);
    case 'sarif':
      return renderSarif(result, options.toolVersion ?? '0.0.0', options.manifestFile);
    case 'junit':
      return renderJunit(result);
    case 'markdown':
      return renderMarkdown(result);
  }
}

// Policy files (policies/<table>.sql): rendered from one template, then owned by the DBA.
// PLACEHOLDER: the row-level-security issue replaces this with the real renderer; until then
// generate writes no policy files (as that predecessor says).
import type { LiveContext } from '../config/live-context.js';

export type PolicyFileStatus = 'written' | 'unchanged' | 'skipped-edited' | 'overwritten';

export interface PolicyFileResult {
  table: string;
  file: string;
  status: PolicyFileStatus;
}

export interface WritePolicyFilesOptions {
  live: LiveContext;
  dir: string;
  /** Overwrite files the DBA edited (detected by their checksum header). */
  force?: boolean;
}

/** Writes one policy file per scoped table (and the tenant table); returns what happened to each. */
export async function writePolicyFiles(_options: WritePolicyFilesOptions): Promise<PolicyFileResult[]> {
  return [];
}

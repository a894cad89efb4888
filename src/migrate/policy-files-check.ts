// `generate --check` for policy files: what writePolicyFiles would do to each file, writing nothing.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { LiveContext } from '../config/live-context.js';
import { parsePolicyFile, policyFileName, renderPolicyFile, type PolicyFileResult, type WritePolicyFilesOptions } from '../policies/policy-files.js';
import { policyTargets, renderPolicyBody } from '../policies/policy-sql.js';

/** The statuses writePolicyFiles would return (same rules: edited files kept unless `force`), without writing. */
export async function checkPolicyFiles(options: WritePolicyFilesOptions & { live: LiveContext }): Promise<PolicyFileResult[]> {
  const results: PolicyFileResult[] = [];
  for (const target of policyTargets(options.live)) {
    const file = path.join(options.dir, policyFileName(target.table));
    const text = renderPolicyFile(target.schema, target.table, renderPolicyBody(target));
    const existing = await readFile(file, 'utf8').catch(() => undefined);
    let status: PolicyFileResult['status'];
    if (existing === undefined) status = 'written';
    else if (existing.replace(/\r\n/g, '\n') === text) status = 'unchanged';
    else if (parsePolicyFile(file, existing)?.pristine) status = 'written';
    else status = options.force ? 'overwritten' : 'skipped-edited';
    results.push({ table: target.table, file, status });
  }
  return results;
}

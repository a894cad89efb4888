// `policies diff`: each file run in a rolled-back transaction and compared with the live policies.
import { withClient } from '../db/connection.js';
import { withLockRetry, withRollback } from '../db/transaction.js';
import { toTenancyError } from '../errors.js';
import { readPolicyFiles } from './policy-files.js';
import { comparePolicyState, executePolicyFile, readFingerprint, type PolicyDrift } from './live-policies.js';
import { DEFAULT_POLICY_LOCK_TIMEOUT_MS, manifestRoles, muteTrigger, partitionFiles, type PoliciesOptions } from './policy-state.js';
import { liveTableSuggester } from '../db/table-suggestion.js';

export type DiffOptions = PoliciesOptions & { lockTimeoutMs?: number };

export interface PolicyDiffResult {
  /** Every difference, each naming its table (and policy / role / function). */
  drift: PolicyDrift[];
  /** Tables compared, in file order. */
  tables: { schema: string; table: string; file: string; drifted: boolean }[];
  /** Scoped tables of the manifest without a policy file. */
  missingFiles: string[];
}

/**
 * Compares the files with the live database: each file runs in a transaction that is rolled back
 * (on a table with its policies dropped first), and the pg_get_expr-normalised result is compared
 * with what the database has. Takes each table's lock for a moment (lock_timeout, retried).
 */
export async function policyDiff(options: DiffOptions): Promise<PolicyDiffResult> {
  const { manifest } = options;
  const files = await readPolicyFiles(options.policiesDir ?? 'policies');
  const { known } = partitionFiles(manifest, files);
  const roleNames = manifestRoles(manifest);
  return withClient(options, 'crm-tenancy policies', async (client) => {
    const drift: PolicyDrift[] = [];
    const tables: PolicyDiffResult['tables'] = [];
    // "did you mean" for a missing table: the schema's table names, read once per schema when needed.
    const suggesters = new Map<string, Promise<(name: string) => string>>();
    const suggesterOf = (schema: string) => {
      if (!suggesters.has(schema)) suggesters.set(schema, liveTableSuggester(client, schema));
      return suggesters.get(schema)!;
    };
    for (const f of known) {
      let found: PolicyDrift[];
      try {
        found = await withLockRetry(
          () =>
            withRollback(
              client,
              async (tx) => {
                await muteTrigger(tx);
                const { before, after, partitions } = await executePolicyFile(tx, f, roleNames);
                return [
                  ...comparePolicyState(f.schema, f.table, after, before),
                  ...partitions.flatMap((p) => comparePolicyState(p.schema, p.table, p.after, p.before)),
                ];
              },
              { lockTimeoutMs: options.lockTimeoutMs ?? DEFAULT_POLICY_LOCK_TIMEOUT_MS },
            ),
          { logger: options.logger, label: `policies diff ${f.schema}.${f.table}` },
        );
      } catch (error) {
        const err = toTenancyError(error);
        if (err.code === 'lock-timeout') throw err;
        found = [
          (await readFingerprint(client, f.schema, f.table)).exists
            ? { schema: f.schema, table: f.table, kind: 'missing-policy', detail: `the file does not run: ${err.message}` }
            : { schema: f.schema, table: f.table, kind: 'missing-table', detail: `table ${f.schema}.${f.table} does not exist${(await suggesterOf(f.schema))(f.table)}` },
        ];
      }
      drift.push(...found);
      tables.push({ schema: f.schema, table: f.table, file: f.file, drifted: found.length > 0 });
    }
    const covered = new Set(known.map((f) => f.table));
    const missingFiles = [manifest.tenant.table, ...manifest.tables.map((t) => t.name)].filter((t) => !covered.has(t));
    return { drift, tables, missingFiles };
  });
}


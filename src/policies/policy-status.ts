// `policies status`: per table, RLS flags, live policies, the checksum applied and the file's.
import { withClient } from '../db/connection.js';
import { toTenancyError } from '../errors.js';
import { readPolicyFiles, type PolicyFile } from './policy-files.js';
import { readFingerprint } from './live-policies.js';
import { readPartitionTrigger, type PartitionTriggerState } from './partition-trigger.js';
import { readRecorded, sameFingerprint, type PoliciesOptions } from './policy-state.js';

export interface PolicyStatusRow {
  schema: string;
  table: string;
  exists: boolean;
  rlsEnabled: boolean;
  rlsForced: boolean;
  policies: { name: string; command: string; permissive: boolean; roles: string[] }[];
  /** The file's checksum now, when there is a file. */
  fileChecksum: string | null;
  /** The checksum applied last, when it was ever applied. */
  appliedChecksum: string | null;
  appliedAt: string | null;
  /** The file changed since it was applied (or was never applied). */
  pending: boolean;
  /** The live policies differ from what the last apply left. */
  drifted: boolean;
}

export interface PolicyStatusResult {
  tables: PolicyStatusRow[];
  /** The event trigger that secures new partitions: wanted, installed, current. */
  partitionTrigger: PartitionTriggerState;
}

/**
 * Per table (tenant table, then scoped tables): RLS enabled / forced, its policies, the applied
 * checksum and whether the live state drifted since. Read-only; never creates the bookkeeping schema.
 */
export async function policyStatus(options: PoliciesOptions): Promise<PolicyStatusResult> {
  const { manifest } = options;
  let files: PolicyFile[] = [];
  try {
    files = await readPolicyFiles(options.policiesDir ?? 'policies');
  } catch (error) {
    if (toTenancyError(error).code !== 'io') throw error;
    options.logger?.warn(toTenancyError(error).message);
  }
  return withClient(options, 'crm-tenancy policies', async (client) => {
    const recorded = await readRecorded(client, manifest.stateSchema);
    const rows: PolicyStatusRow[] = [];
    for (const table of [manifest.tenant.table, ...manifest.tables.map((t) => t.name)]) {
      const live = await readFingerprint(client, manifest.schema, table);
      const file = files.find((f) => f.schema === manifest.schema && f.table === table);
      const previous = recorded.get(`${manifest.schema}\u0000${table}`);
      rows.push({
        schema: manifest.schema,
        table,
        exists: live.exists,
        rlsEnabled: live.rlsEnabled,
        rlsForced: live.rlsForced,
        policies: live.policies.map((p) => ({ name: p.name, command: p.command, permissive: p.permissive, roles: p.roles })),
        fileChecksum: file?.checksum ?? null,
        appliedChecksum: previous?.checksum ?? null,
        appliedAt: previous ? new Date(previous.applied_at).toISOString() : null,
        pending: file !== undefined && previous?.checksum !== file.checksum,
        drifted: previous !== undefined && !sameFingerprint(previous.fingerprint, live),
      });
    }
    return { tables: rows, partitionTrigger: await readPartitionTrigger(client, manifest) };
  });
}

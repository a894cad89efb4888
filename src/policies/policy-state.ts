// What policies apply, diff and status share: their options, the recorded checksums, which files are the manifest's.
import type pg from 'pg';
import type { Manifest } from '../config/manifest.js';
import { ident } from '../db/quote.js';
import type { Logger } from '../logger.js';
import type { PolicyFile } from './policy-files.js';
import type { LivePolicy, PolicyFingerprint } from './live-policies.js';
import { PARTITION_TRIGGER_GUARD } from './partition-trigger.js';

/** Inside a policy file's transaction: the file, not the partition trigger, decides each partition's policies. */
export const muteTrigger = (tx: pg.ClientBase) => tx.query(`SELECT set_config($1, 'on', true)`, [PARTITION_TRIGGER_GUARD]);

/** Default lock_timeout for each table's transaction (pgroll's default). */
export const DEFAULT_POLICY_LOCK_TIMEOUT_MS = 500;

export interface PoliciesOptions {
  /** Where to connect (default: DATABASE_URL / PG*). Ignored when `client` is given. */
  databaseUrl?: string;
  /** An open connection to use instead (not closed). */
  client?: pg.ClientBase;
  manifest: Manifest;
  /** The directory of policy files (default `policies`). */
  policiesDir?: string;
  logger?: Logger;
}

export function manifestRoles(manifest: Manifest): string[] {
  return [...manifest.roles.app, ...manifest.roles.bypass.map((b) => b.role)];
}

/** Files for the manifest's tables (tenant table and scoped tables); the rest are reported. */
export function partitionFiles(manifest: Manifest, files: PolicyFile[]): { known: PolicyFile[]; unknown: PolicyFile[] } {
  const names = new Set([manifest.tenant.table, ...manifest.tables.map((t) => t.name)]);
  const known: PolicyFile[] = [];
  const unknown: PolicyFile[] = [];
  for (const f of files) (f.schema === manifest.schema && names.has(f.table) ? known : unknown).push(f);
  return { known, unknown };
}

export function sameFingerprint(a: PolicyFingerprint, b: PolicyFingerprint): boolean {
  const norm = (f: PolicyFingerprint) =>
    JSON.stringify({
      e: f.exists,
      r: f.rlsEnabled,
      f: f.rlsForced,
      p: [...f.policies]
        .sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))
        .map((p: LivePolicy) => [p.name, p.command, p.permissive, p.roles, p.using, p.withCheck]),
    });
  return norm(a) === norm(b);
}

export interface Recorded {
  checksum: string;
  fingerprint: PolicyFingerprint;
  applied_at: Date;
  applied_by: string;
}

export async function readRecorded(db: pg.ClientBase, stateSchema: string): Promise<Map<string, Recorded>> {
  const exists = await db.query(`SELECT to_regclass($1) AS t`, [`${ident(stateSchema)}.policy_files`]);
  const map = new Map<string, Recorded>();
  if (!exists.rows[0].t) return map;
  const { rows } = await db.query(
    `SELECT table_schema, table_name, checksum, fingerprint, applied_at, applied_by FROM ${ident(stateSchema)}.policy_files`,
  );
  for (const r of rows) map.set(`${r.table_schema}\u0000${r.table_name}`, r);
  return map;
}


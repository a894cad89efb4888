// The probes verify runs, their statuses, and the typed result and options every verify file shares.
import type pg from 'pg';
import type { Manifest } from '../config/manifest.js';
import type { Catalog, CatalogTable } from '../db/catalog.js';
import type { CitusFacts } from '../citus/propagation.js';
import type { Logger, ProgressListener } from '../logger.js';

/** Probes run on every scoped table (and the tenant table), in matrix order. */
export const TABLE_PROBES = [
  'select-own',
  'select-no-tenant',
  'insert-other-tenant',
  'update-to-other-tenant',
  'update-other-rows',
  'delete-other-rows',
  'cross-tenant-reference',
  'views',
  'truncate',
  'alter-table',
] as const;

/** Probes run once per application role, over the whole database. */
export const ROLE_PROBES = [
  'definer-function',
  'tenant-setting-default',
  'unprotected-table',
  'state-schema',
  'role-membership',
  // One result per polymorphic pair (src/verify/polymorphic-probe.ts); none without pairs.
  'polymorphic-reference',
  // A partition created in the probe's rolled-back transaction is secured at once (src/verify/partition-probe.ts).
  'new-partition',
  // Shared (NULL-tenant) rows: readable by every tenant, writable by none (src/verify/shared-rows-probe.ts).
  'shared-rows',
  // Citus coordinators only: a login as the role forwards SET LOCAL to the workers (src/verify/citus-propagation-probe.ts).
  'citus-propagation',
] as const;

export const PROBES = [...TABLE_PROBES, ...ROLE_PROBES] as const;
export type TableProbeId = (typeof TABLE_PROBES)[number];
export type RoleProbeId = (typeof ROLE_PROBES)[number];
export type ProbeId = (typeof PROBES)[number];

/**
 * pass / fail; `error`: the probe could not decide (counted as a failure); `unprobed`: nothing
 * proven (no row could be made, a view without the tenant column, an unpopulated materialized view;
 * said why; fails verify unless allowed); `reported`: a weakness that is not a failure (a
 * cross-tenant reference while composite keys are off, a definer function the manifest allows);
 * `n/a`: nothing to probe (no foreign keys, no views).
 */
export const PROBE_STATUSES = ['pass', 'fail', 'error', 'unprobed', 'reported', 'n/a'] as const;
export type ProbeStatus = (typeof PROBE_STATUSES)[number];

export interface ProbeResult {
  role: string;
  /** The table; for a role probe, the object it looked at (a function, a schema's table, a role, a setting). */
  table: string;
  probe: ProbeId;
  status: ProbeStatus;
  detail: string;
}

/** A failure, error or unprobed item: what it is about, enough to find it. */
export interface ProbeIssue {
  role: string;
  table: string;
  probe: string;
  detail: string;
}

export interface VerifyResult {
  tenants: { a: string; b: string };
  roles: string[];
  tables: string[];
  /** Every probe result, table probes first (role, table, probe order), then the role probes. */
  probes: ProbeResult[];
  counts: Record<ProbeStatus, number>;
  /** Failures and errors, each naming role, table (or object) and probe. */
  failures: ProbeIssue[];
  /** What could not be probed, and why. Fails verify unless `allowUnprobed`. */
  unprobed: ProbeIssue[];
  passed: number;
  failed: number;
  ok: boolean;
  /** Set on a Citus coordinator: the probes set the tenant with SET LOCAL (forwarded to the workers). */
  citus?: CitusFacts;
}

export interface VerifyOptions {
  databaseUrl?: string;
  /** An open connection to use instead (superuser or BYPASSRLS; not closed). */
  client?: pg.ClientBase;
  manifest: Manifest;
  /** Tenant keys A and B (default: the two tenants with the most rows). */
  tenants?: [string, string];
  /** Unprobed items are listed but do not fail verify. */
  allowUnprobed?: boolean;
  logger?: Logger;
  onProgress?: ProgressListener;
}

/** A table as the probes see it. */
export interface TableInfo {
  name: string;
  rel: CatalogTable;
  /** The compared column (tenant key on the tenant table). */
  column: string;
  isTenantTable: boolean;
  /** Columns an INSERT may set (identity, generated and defaulted key columns left out). */
  insertColumns: string[];
  /** The compared column's type (format_type), so comparisons stay index-friendly. */
  type: string;
}

/** What every probe gets: the connection, the manifest and catalog, the role and the tenant pair. */
export interface ProbeEnv {
  client: pg.ClientBase;
  manifest: Manifest;
  catalog: Catalog;
  tenantInfo: TableInfo;
  role: string;
  /** The tenant set. */
  a: string;
  /** The other tenant. */
  b: string;
  /** Set on a Citus coordinator: the tenant is set with SET LOCAL, and writes take the forms Citus can run. */
  citus?: CitusFacts;
}

export interface TableProbeEnv extends ProbeEnv {
  info: TableInfo;
}

export type Outcome = { status: ProbeStatus; detail: string };

// Which tables of a manifest Citus distributes, and which it copies to every node (reference tables).
import type { Manifest } from '../config/manifest.js';

export interface CitusTables {
  /** Distributed by the tenant column (the tenant table by its key), co-located, in manifest order: the tenant table first. */
  distributed: string[];
  /** Copied whole to every node: exempt tables marked `reference: true`, and the tenant table with `tenant.reference: true`. */
  reference: string[];
}

/**
 * The tenant table is distributed by its key by default (`tenant.reference: true` makes it a
 * reference table): it grows with the customers, each of its rows belongs to one tenant, and
 * co-located with the tenant's rows a join of the tenant row with its data stays on one node; a
 * reference table is written on every node (two-phase commit) and locks every node on DDL.
 *
 * @example citusTables(manifest) // => { distributed: ['companies', 'users', …], reference: ['roles', 'teams'] }
 */
export function citusTables(manifest: Manifest): CitusTables {
  const tenantReference = manifest.tenant.reference === true;
  return {
    distributed: [...(tenantReference ? [] : [manifest.tenant.table]), ...manifest.tables.map((t) => t.name)],
    reference: [...(tenantReference ? [manifest.tenant.table] : []), ...manifest.exempt.filter((e) => e.reference).map((e) => e.name)],
  };
}

/** The column a distributed table is distributed by: the tenant key on the tenant table, the tenant column elsewhere. */
export function distributionColumn(manifest: Manifest, table: string): string {
  return table === manifest.tenant.table ? manifest.tenant.key : manifest.tenant.column;
}

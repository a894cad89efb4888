// What fixes a refusal, as data (the command to run, or what a person must decide), and its wording.
import { shellCommand } from '../shell-quote.js';

/**
 * One way to clear (part of) a refusal. Results carry these; `remedyText` words them (the CLI, the
 * demo and logs print that), so a program can act on the data instead of parsing sentences.
 */
export type Remedy =
  /** `crm-tenancy backfill --table T`: a source places the rows. */
  | { kind: 'backfill'; table: string }
  /** `crm-tenancy backfill --detach-cross-tenant`: a nullable foreign key can be cleared. */
  | { kind: 'detach-cross-tenant' }
  /** `crm-tenancy dedupe --table T`. */
  | { kind: 'dedupe'; table: string }
  /** The backfill sources disagree on these rows: a person sets the tenant. */
  | { kind: 'resolve-conflicts'; table: string; rows: number }
  /** No parent places these rows (or no backfill path exists): assign them, or declare the table shared/exempt. */
  | { kind: 'place-orphans'; table: string; rows: number | null; noPath: boolean }
  /** A NOT NULL foreign key points across tenants: a person re-points or deletes the rows. */
  | { kind: 'repoint-by-hand'; table: string; column: string; parent: string }
  /** A polymorphic pair points at no row of the row's tenant. */
  | { kind: 'repoint-pair-by-hand'; table: string; typeColumn: string; idColumn: string }
  /** The tenant value names no tenant. */
  | { kind: 'point-at-tenant-by-hand'; table: string; column: string; tenantTable: string }
  /** `crm-tenancy migrate down --force`: the values are archived first. */
  | { kind: 'force-down'; stateSchema: string };

/** One remedy in words, its commands shell-quoted. */
export function remedyText(r: Remedy): string {
  switch (r.kind) {
    case 'backfill':
      return shellCommand('crm-tenancy', 'backfill', '--table', r.table);
    case 'detach-cross-tenant':
      return shellCommand('crm-tenancy', 'backfill', '--detach-cross-tenant');
    case 'dedupe':
      return shellCommand('crm-tenancy', 'dedupe', '--table', r.table);
    case 'resolve-conflicts':
      return (
        `${r.rows} conflict(s), its sources disagree: set the tenant by hand from the samples of ` +
        `${shellCommand('crm-tenancy', 'backfill', '--table', r.table, '--dry-run')}, or clear the wrong reference and use --assign-orphans-to`
      );
    case 'place-orphans': {
      const assign = shellCommand('crm-tenancy', 'backfill', '--table', r.table, '--assign-orphans-to', 'TENANT');
      const shareOrExempt = `or mark ${r.table} shared_rows: true (or exempt) in the manifest`;
      return r.noPath
        ? `no backfill path (the manifest lists no backfill column): ${assign}, ${shareOrExempt}`
        : `${r.rows} orphan(s), no parent places them: ${assign}, ${shareOrExempt}`;
    }
    case 'repoint-by-hand':
      return `re-point ${r.table}.${r.column} at a ${r.parent} row of the same tenant, or delete those rows (by hand: the column is NOT NULL, so --detach-cross-tenant cannot clear it)`;
    case 'repoint-pair-by-hand':
      return `point ${r.table}.${r.typeColumn}/${r.idColumn} at a row of the same tenant, or delete those rows (by hand; \`crm-tenancy audit --only cross-tenant-reference\` lists them with samples)`;
    case 'point-at-tenant-by-hand':
      return `by hand: point ${r.table}.${r.column} at an existing ${r.tenantTable} row, or delete those rows`;
    case 'force-down':
      return `crm-tenancy migrate down --force (archives the values in ${r.stateSchema}.migrate_archive first)`;
  }
}

/** A refusal's remedies in words, one after the other. */
export function remediesText(remedies: readonly Remedy[]): string {
  return remedies.map(remedyText).join('; ');
}

// Checks the manifest against the live database and resolves what commands need (tenant key type…).
import { TenancyError } from '../errors.js';
import type { Queryable } from '../db/connection.js';
import {
  findColumn,
  findRelation,
  foreignKeys,
  readCatalog,
  type Catalog,
  type CatalogColumn,
  type CatalogTable,
} from '../db/catalog.js';
import type { Manifest } from './manifest.js';
import { didYouMean } from '../did-you-mean.js';

/** The tables of a schema (partitions left out: their parent stands for them). */
function schemaTables(catalog: Catalog, schema: string): string[] {
  return [...catalog.relations.values()]
    .filter((r) => r.schema === schema && (r.kind === 'table' || r.kind === 'partitioned-table') && !r.partitionOf)
    .map((r) => r.name);
}

/**
 * " (did you mean deals?)" for a table the schema lacks (a manifest typo), or "" when no table of the
 * schema is close.
 *
 * @example tableSuggestion(catalog, 'public', 'dealz') // => ' (did you mean deals?)'
 */
export function tableSuggestion(catalog: Catalog, schema: string, name: string): string {
  return didYouMean(name, schemaTables(catalog, schema));
}

/** " (did you mean owner_id?)" for a column the table lacks, or "". */
export function columnSuggestion(table: CatalogTable, name: string): string {
  return didYouMean(
    name,
    table.columns.map((c) => c.name),
  );
}

/**
 * For a table the manifest does not mention: the manifest's tables that do not exist and are close to
 * its name (the typo that left it untracked), as " (the manifest lists dealz, which does not exist: a typo?)", or "".
 */
export function untrackedSuggestion(manifest: Manifest, catalog: Catalog, name: string): string {
  const missing = manifest.tables.map((t) => t.name).filter((t) => !findRelation(catalog, manifest.schema, t));
  const close = missing.filter((t) => didYouMean(t, [name]) !== '');
  return close.length === 0 ? '' : ` (the manifest lists ${close.join(', ')}, which does not exist: a typo?)`;
}

export interface LiveContext {
  manifest: Manifest;
  catalog: Catalog;
  tenantTable: CatalogTable;
  tenantKey: CatalogColumn;
  /** The tenant key's type (format_type), which every tenant column must have, e.g. `integer`, `uuid`. */
  tenantType: string;
}

/** Problems that make the manifest unusable on this database (each names the manifest path). */
export function liveProblems(manifest: Manifest, catalog: Catalog): string[] {
  const problems: string[] = [];
  const { schema, tenant } = manifest;
  if (manifest.stateSchema === schema) {
    problems.push(`state_schema: must differ from schema (${schema}); the toolkit keeps its own state apart`);
  }
  const tenantTable = findRelation(catalog, schema, tenant.table);
  if (!tenantTable) {
    problems.push(`tenant.table: table ${schema}.${tenant.table} does not exist${tableSuggestion(catalog, schema, tenant.table)}`);
  } else {
    const key = findColumn(tenantTable, tenant.key);
    if (!key) {
      problems.push(`tenant.key: column ${tenant.key} does not exist in ${schema}.${tenant.table}${columnSuggestion(tenantTable, tenant.key)}`);
    } else {
      const isUnique = tenantTable.constraints.some(
        (c) => (c.type === 'primary-key' || c.type === 'unique') && c.columns.length === 1 && c.columns[0] === tenant.key,
      );
      if (!isUnique) {
        problems.push(
          `tenant.key: ${schema}.${tenant.table}.${tenant.key} is neither the primary key nor UNIQUE; tenant columns cannot reference it`,
        );
      }
    }
  }
  for (const table of manifest.tables) {
    const live = findRelation(catalog, schema, table.name);
    if (!live) continue; // a missing table is an audit finding (missing-table), not a usage error
    table.backfill.forEach((column, i) => {
      const path = `tables.${table.name}.backfill[${i}]`;
      if (!findColumn(live, column)) {
        problems.push(`${path}: column ${column} does not exist in ${schema}.${table.name}${columnSuggestion(live, column)}`);
        return;
      }
      // After `migrate` (composite keys) the FK is (tenant column, column): that one counts too.
      const fk = foreignKeys(live).find(
        (c) =>
          (c.columns.length === 1 && c.columns[0] === column) ||
          (c.columns.length === 2 && c.columns.includes(column) && c.columns.includes(tenant.column)),
      );
      if (!fk) problems.push(`${path}: ${schema}.${table.name}.${column} is not a foreign key`);
    });
    for (const [i, key] of table.unique.entries()) {
      for (const column of [...key.columns, ...key.same]) {
        if (!findColumn(live, column)) {
          problems.push(`tables.${table.name}.unique[${i}]: column ${column} does not exist in ${schema}.${table.name}${columnSuggestion(live, column)}`);
        }
      }
    }
    const known = new Set([manifest.tenant.table, ...manifest.tables.map((t) => t.name)]);
    for (const [i, ref] of table.polymorphic.entries()) {
      for (const column of [ref.typeColumn, ref.idColumn]) {
        if (!findColumn(live, column)) {
          problems.push(`tables.${table.name}.polymorphic[${i}]: column ${column} does not exist in ${schema}.${table.name}${columnSuggestion(live, column)}`);
        }
      }
      for (const target of ref.targets) {
        if (!known.has(target.table)) {
          problems.push(`tables.${table.name}.polymorphic[${i}].targets.${target.type}: ${target.table} is not a scoped table or the tenant table${didYouMean(target.table, [...known])}`);
        } else if (!findRelation(catalog, schema, target.table)) {
          problems.push(`tables.${table.name}.polymorphic[${i}].targets.${target.type}: table ${schema}.${target.table} does not exist${tableSuggestion(catalog, schema, target.table)}`);
        }
      }
    }
  }
  return problems;
}

/**
 * Reads the catalog of the manifest's schema and checks the manifest against it. Throws a
 * `manifest-live` error (exit 2) listing every problem.
 */
export async function resolveLiveContext(db: Queryable, manifest: Manifest): Promise<LiveContext> {
  const schemaExists = await db.query(`SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1`, [manifest.schema]);
  if (schemaExists.rowCount === 0) {
    const schemas = await db.query<{ n: string }>(
      `SELECT nspname AS n FROM pg_catalog.pg_namespace WHERE nspname !~ '^pg_' AND nspname <> 'information_schema'`,
    );
    const close = didYouMean(manifest.schema, schemas.rows.map((r) => r.n));
    throw new TenancyError('manifest-live', `schema ${manifest.schema} does not exist in this database${close}`, {
      hint: 'check `schema:` in the manifest and that you connected to the right database',
    });
  }
  const catalog = await readCatalog(db, [manifest.schema]);
  const problems = liveProblems(manifest, catalog);
  if (problems.length > 0) {
    throw new TenancyError(
      'manifest-live',
      `${manifest.file ?? 'manifest'} does not match the database: ${problems.length} problem${problems.length === 1 ? '' : 's'}`,
      { problems, hint: 'fix the manifest or the schema; names are case-sensitive identifiers' },
    );
  }
  const tenantTable = findRelation(catalog, manifest.schema, manifest.tenant.table)!;
  const tenantKey = findColumn(tenantTable, manifest.tenant.key)!;
  return { manifest, catalog, tenantTable, tenantKey, tenantType: tenantKey.type };
}

/** Throws an `unknown-table` error (exit 2) when a --table option names no scoped table. */
export function requireScopedTable(manifest: Manifest, name: string): void {
  if (!manifest.tables.some((t) => t.name === name)) {
    const close = didYouMean(name, manifest.tables.map((t) => t.name));
    throw new TenancyError('unknown-table', `table ${name} is not a scoped table in ${manifest.file ?? 'the manifest'}${close}`, {
      hint: `scoped tables: ${manifest.tables.map((t) => t.name).join(', ')}`,
    });
  }
}

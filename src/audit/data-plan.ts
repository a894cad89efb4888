// Plans the data checks from the catalog: one shared scan per child table, skipping what the catalog proves.
import { findColumn, findRelation, foreignKeys, type Catalog, type CatalogTable } from '../db/catalog.js';
import { ident, qualified } from '../db/quote.js';
import type { Manifest } from '../config/manifest.js';
import type { CheckDefinition } from './types.js';
import { fillTemplate } from './sql-params.js';

/** One counted condition of a shared table scan. */
export interface ScanPart {
  check: 'null-tenant' | 'cross-tenant-reference';
  /** The FK constraint name (cross-tenant-reference). */
  object: string | null;
  /** Referenced table (cross-tenant-reference). */
  parent?: string;
  countSql: string;
  sampleSql: string;
}

/** One data query: a shared scan of a table, or one duplicate-key group query. */
export interface DataTask {
  table: string;
  kind: 'scan' | 'duplicates';
  /** Estimated rows, to start the big ones first. */
  estimatedRows: number;
  /** scan: the whole statement; its columns c0…cN match parts. */
  sql: string;
  parts: ScanPart[];
  /** duplicates: the key's columns (the tenant column first). */
  key?: string[];
  singleton?: boolean;
}

export interface DataPlan {
  tasks: DataTask[];
  /** Scans the catalog proved unnecessary: (check, table, object, reason). */
  skipped: { check: string; table: string; object: string | null; reason: string }[];
}

/** The primary key as one SQL value (a jsonb array), for samples; ctid when there is none. */
function keyExpression(table: CatalogTable, alias: string): string {
  const pk = table.primaryKey;
  if (!pk || pk.length === 0) return `jsonb_build_array(${alias}.ctid::text)`;
  return `jsonb_build_array(${pk.map((c) => `${alias}.${ident(c)}`).join(', ')})`;
}

/**
 * Builds the data tasks: per scoped table with a tenant column, one scan counting NULL tenants
 * (unless NOT NULL) and, per FK to another scoped table, rows whose tenant differs from the
 * parent's (unless a validated FK includes the tenant pair); per manifest unique/singleton key,
 * one GROUP BY (unless a valid unique index already covers it).
 */
export function planDataChecks(manifest: Manifest, catalog: Catalog, checks: Map<string, CheckDefinition>): DataPlan {
  const { schema } = manifest;
  const column = manifest.tenant.column;
  const scopedNames = new Set(manifest.tables.map((t) => t.name));
  const tasks: DataTask[] = [];
  const skipped: DataPlan['skipped'] = [];
  const nullCheck = checks.get('null-tenant');
  const crossCheck = checks.get('cross-tenant-reference');
  const dupCheck = checks.get('duplicate-within-tenant');

  for (const scoped of manifest.tables) {
    const table = findRelation(catalog, schema, scoped.name);
    if (!table) continue;
    const tenant = findColumn(table, column);
    if (!tenant) continue;
    const display = `${schema}.${table.name}`;
    const key = keyExpression(table, 't');
    const base = { table: qualified(schema, table.name), tenant: ident(column), key };
    const parts: ScanPart[] = [];
    const joins: string[] = [];

    if (nullCheck) {
      if (tenant.notNull) {
        skipped.push({ check: 'null-tenant', table: display, object: null, reason: `${column} is NOT NULL` });
      } else {
        parts.push({
          check: 'null-tenant',
          object: null,
          countSql: fillTemplate(nullCheck.sections.count, base),
          sampleSql: fillTemplate(nullCheck.sections.sample, base),
        });
      }
    }

    if (crossCheck) {
      for (const fk of foreignKeys(table)) {
        const ref = fk.references!;
        if (ref.schema !== schema || !scopedNames.has(ref.table) || fk.inherited) continue;
        const parent = findRelation(catalog, schema, ref.table);
        if (!parent || !findColumn(parent, column)) continue;
        const tenantAt = fk.columns.findIndex((c, i) => c === column && ref.columns[i] === column);
        if (tenantAt >= 0 && fk.validated) {
          skipped.push({
            check: 'cross-tenant-reference',
            table: display,
            object: fk.name,
            reason: `validated foreign key ${fk.name} includes ${column}`,
          });
          continue;
        }
        const pairs = fk.columns.map((c, i) => [c, ref.columns[i]] as const).filter((_, i) => i !== tenantAt);
        const refCols = pairs.map(([, r]) => r);
        // A LEFT JOIN must not multiply child rows: the referenced columns (without the tenant) must be unique.
        const unique = parent.indexes.some(
          (ix) => ix.unique && ix.valid && ix.predicate === null && ix.columns.every((c) => c !== null && refCols.includes(c)),
        );
        if (!unique) {
          skipped.push({
            check: 'cross-tenant-reference',
            table: display,
            object: fk.name,
            reason: `NOT VALID composite key ${fk.name}: ${refCols.join(', ')} is not unique in ${ref.table} alone; validate it to prove it`,
          });
          continue;
        }
        const alias = ident(`p${parts.length}`);
        const values = {
          ...base,
          parent: qualified(schema, parent.name),
          p: alias,
          parent_tenant: ident(column),
          join: pairs.map(([c, r]) => `${alias}.${ident(r)} = t.${ident(c)}`).join(' AND '),
        };
        joins.push(fillTemplate(crossCheck.sections.join, values));
        parts.push({
          check: 'cross-tenant-reference',
          object: fk.name,
          parent: `${schema}.${parent.name}`,
          countSql: fillTemplate(crossCheck.sections.count, values),
          sampleSql: fillTemplate(crossCheck.sections.sample, values),
        });
      }
    }

    if (parts.length > 0) {
      const counts = parts.map((p, i) => `${p.countSql} AS c${i}`).join(',\n       ');
      tasks.push({
        table: display,
        kind: 'scan',
        estimatedRows: table.estimatedRows,
        sql: `SELECT ${counts}\n  FROM ${base.table} t\n${joins.join('\n')}`,
        parts,
      });
    }

    if (dupCheck) {
      const keys: { cols: string[]; singleton: boolean }[] = scoped.unique.map((cols) => ({ cols, singleton: false }));
      if (scoped.singleton) keys.push({ cols: [], singleton: true });
      for (const k of keys) {
        if (k.cols.some((c) => !findColumn(table, c))) continue;
        const group = [column, ...k.cols.filter((c) => c !== column)];
        const covering = table.indexes.find(
          (ix) => ix.unique && ix.valid && ix.predicate === null && ix.columns.length > 0 && ix.columns.every((c) => c !== null && group.includes(c)),
        );
        const label = k.singleton ? `singleton (${column})` : `(${group.join(', ')})`;
        if (covering) {
          skipped.push({ check: 'duplicate-within-tenant', table: display, object: label, reason: `unique index ${covering.name} covers it` });
          continue;
        }
        tasks.push({
          table: display,
          kind: 'duplicates',
          estimatedRows: table.estimatedRows,
          sql: fillTemplate(dupCheck.sections.query, {
            ...base,
            group_by: group.map((c) => `t.${ident(c)}`).join(', '),
            not_null: group.map((c) => `t.${ident(c)} IS NOT NULL`).join(' AND '),
          }),
          parts: [],
          key: group,
          singleton: k.singleton,
        });
      }
    }
  }
  tasks.sort((a, b) => b.estimatedRows - a.estimatedRows);
  return { tasks, skipped };
}

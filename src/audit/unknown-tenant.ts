// Plans the unknown-tenant data check: rows whose tenant value names no tenant, where no validated foreign key rules them out.
import { findColumn, findRelation, foreignKeys } from '../db/catalog.js';
import { ident, qualified } from '../db/quote.js';
import { estimated, isPartitioned, lookupForm, NUMERIC_TYPES, sampleFetchSql, tenantTables, type DataPlanner } from './data-checks.js';
import { isIntegerType, lookupSpec } from './direct-lookup.js';
import { fillTemplate } from './sql-params.js';

/**
 * unknown-tenant: per scoped table, a LEFT JOIN of its shared scan (fuseScans) to the tenant table, unless a validated
 * foreign key from the tenant column to the tenant key proves every value names a tenant (not with
 * --deep: a restore or a write under session_replication_role = replica skips the FK's triggers).
 */
export const planUnknownTenant: DataPlanner = (check, context, plan) => {
  const { manifest, catalog } = context;
  const { schema, tenant } = manifest;
  const tenantRel = findRelation(catalog, schema, tenant.table);
  const keyColumn = tenantRel ? findColumn(tenantRel, tenant.key) : undefined;
  if (!tenantRel || !keyColumn) return; // missing-table / the live context report it
  for (const { entry, table, column, base } of tenantTables(context)) {
    const fk = foreignKeys(table).find(
      (c) =>
        c.columns.length === 1 &&
        c.columns[0] === tenant.column &&
        c.references?.schema === schema &&
        c.references.table === tenant.table &&
        c.references.columns[0] === tenant.key,
    );
    if (fk?.validated && !context.deep) {
      plan.proofs.push({ check: check.id, table: entry.name, object: null, status: 'proven', proof: `validated foreign key to ${tenant.table}` });
      continue;
    }
    plan.proofs.push({ check: check.id, table: entry.name, object: null, status: 'scanned' });
    // Tenant columns of another type than the key (text beside uuid) are compared as text rather than fail the audit.
    const comparable = column.typeOid === keyColumn.typeOid || (NUMERIC_TYPES.has(column.typeOid) && NUMERIC_TYPES.has(keyColumn.typeOid));
    const cast = comparable ? '' : '::text';
    // The join must not multiply rows: the tenant table itself when a unique index covers its key, else its distinct keys.
    const uniqueKey = tenantRel.indexes.some((i) => i.unique && i.valid && i.predicate === null && i.columns.length === 1 && i.columns[0] === tenant.key);
    const tenants = uniqueKey ? qualified(schema, tenant.table) : `(SELECT DISTINCT ${ident(tenant.key)} FROM ${qualified(schema, tenant.table)})`;
    const values = { ...base, tenants, tenant_key: ident(tenant.key), cast };
    const spec = uniqueKey && cast === '' && isIntegerType(column.typeOid) ? lookupSpec(qualified(schema, tenant.table), tenantRel, tenant.key, tenant.key) : undefined;
    const why = fk ? `its foreign key ${fk.name} to ${tenant.table} is NOT VALID` : `no foreign key from ${tenant.column} to ${tenant.table}`;
    plan.scans.push({
      target: entry.name,
      tables: [entry.name, tenant.table],
      sql: '',
      fuse: {
        table: entry.name,
        from: base.table,
        parents: [tenant.table],
        joins: [fillTemplate(check.sections.join, values)],
        conditions: [fillTemplate(check.sections.condition, values)],
        partitioned: isPartitioned(table),
        rows: estimated(table),
        parentRows: [estimated(tenantRel)],
        // Integer keys: whether a tenant exists may be read from an array of the keys instead
        // (direct-lookup.ts; decided at run time).
        ...(spec ? { lookup: lookupForm(spec, `t.${ident(tenant.column)}`, check.sections.lookup_condition, values) } : {}),
      },
      parts: [
        {
          check: check.id,
          table: entry.name,
          object: null,
          // Samples as (key, tenant value).
          sampleSql: sampleFetchSql(base.table, `${base.key}, t.${base.tenant}::text AS tenant`, isPartitioned(table)),
          describe: (n) =>
            `${n} row${n === 1 ? '' : 's'} of ${schema}.${entry.name} name${n === 1 ? 's' : ''} a ${tenant.column} that is not in ${tenant.table} (${why})`,
        },
      ],
    });
  }
};

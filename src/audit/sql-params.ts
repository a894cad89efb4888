// psql-style named parameters (:'name') in check files → $n placeholders and a values array.
import type { Manifest } from '../config/manifest.js';
import type { Catalog } from '../db/catalog.js';
import { sharedRefFunctions } from './shared-ref-proof.js';
import { citusTables } from '../citus/citus-tables.js';

/**
 * Rewrites every `:'name'` into `$n` (the same name, the same n) and returns the values in order.
 * The files stay runnable in psql (`psql -v schema=public -f audits/0013-rls-disabled.sql`).
 *
 * @example bindNamed("WHERE n.nspname = :'schema'", { schema: 'public' }) // => { text: 'WHERE n.nspname = $1::text', values: ['public'] }
 */
export function bindNamed(sql: string, params: Record<string, unknown>): { text: string; values: unknown[] } {
  const order: string[] = [];
  const text = sql.replace(/:'([a-z_]+)'/g, (_match, name: string) => {
    if (!(name in params)) throw new Error(`check SQL uses :'${name}', which is not an audit parameter`);
    let index = order.indexOf(name);
    if (index < 0) index = order.push(name) - 1;
    // Typed, so that the placeholder works inside format() and other polymorphic calls.
    return `$${index + 1}::${Array.isArray(params[name]) ? 'text[]' : 'text'}`;
  });
  return { text, values: order.map((name) => params[name]) };
}

/** Fills `{{name}}` placeholders of a data-check template with already-quoted SQL fragments. */
export function fillTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{([a-z_]+)\}\}/g, (_m, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`template placeholder {{${name}}} has no value`);
    return value;
  });
}

/**
 * The named parameters every check file may use (`:'schema'`, `:'scoped_tables'`…), from the manifest;
 * `shared_ref_*` from the catalog (empty without one: no key counts as guarded).
 */
export function checkParams(manifest: Manifest, catalog?: Catalog): Record<string, unknown> {
  const sharedRef = sharedRefFunctions(manifest, catalog);
  return {
    schema: manifest.schema,
    state_schema: manifest.stateSchema,
    tenant_table: manifest.tenant.table,
    tenant_key: manifest.tenant.key,
    tenant_column: manifest.tenant.column,
    setting: manifest.tenant.setting,
    scoped_tables: manifest.tables.map((t) => t.name),
    shared_tables: manifest.tables.filter((t) => t.sharedRows).map((t) => t.name),
    exempt_tables: manifest.exempt.map((t) => t.name),
    exempt_reasons: manifest.exempt.map((t) => t.reason),
    app_roles: manifest.roles.app,
    bypass_roles: manifest.roles.bypass.map((b) => b.role),
    bypass_reasons: manifest.roles.bypass.map((b) => b.reason),
    definer_functions: manifest.definerFunctions.map((f) => f.name),
    definer_reasons: manifest.definerFunctions.map((f) => f.reason),
    // audit --target citus: the tables distributed by the tenant column, and the reference tables.
    distributed_tables: citusTables(manifest).distributed,
    reference_tables: citusTables(manifest).reference,
    // The guard functions of keys into shared_rows tables, as migrate writes them (names, pg_proc.prosrc).
    shared_ref_functions: sharedRef.child.names,
    shared_ref_bodies: sharedRef.child.bodies,
    shared_ref_parent_functions: sharedRef.parent.names,
    shared_ref_parent_bodies: sharedRef.parent.bodies,
  };
}

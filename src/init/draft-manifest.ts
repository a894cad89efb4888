// Drafts a tenancy.yaml from the live catalog: finds the tenant table, classifies every table.
import { Scalar, stringify } from 'yaml';
import type { Queryable } from '../db/connection.js';
import {
  findColumn,
  foreignKeys,
  isTableLike,
  readCatalog,
  type Catalog,
  type CatalogTable,
} from '../db/catalog.js';
import { escapeText } from '../db/quote.js';
import { TenancyError } from '../errors.js';

export interface DraftOptions {
  schema?: string;
  /** The tenant table; guessed when absent. */
  tenantTable?: string;
  /** The tenant column; guessed (most common FK column to the tenant table) when absent. */
  tenantColumn?: string;
  /** Schemas never drafted (the toolkit's own). */
  excludeSchemas?: string[];
  stateSchema?: string;
}

export type Classification =
  | { kind: 'tenant' }
  | { kind: 'scoped'; why: string; backfill: string[] }
  | { kind: 'exempt'; why: string };

export interface ManifestDraft {
  schema: string;
  tenantTable: string;
  tenantKey: string;
  tenantColumn: string;
  tenantType: string;
  setting: string;
  appRoles: string[];
  /** How the tenant table was chosen. */
  tenantWhy: string;
  tables: { name: string; classification: Classification }[];
}

const TENANT_NAMES = ['companies', 'organizations', 'organisations', 'orgs', 'tenants', 'accounts', 'agencies', 'workspaces', 'customers', 'teams'];

function singleKey(table: CatalogTable): string | undefined {
  return table.primaryKey && table.primaryKey.length === 1 ? table.primaryKey[0] : undefined;
}

function guessTenant(catalog: Catalog, tables: CatalogTable[], options: DraftOptions): { table: CatalogTable; column: string; why: string } {
  // Score each table by how many other tables reference it (FK) or carry a `<singular>_id` column.
  const scores = new Map<CatalogTable, Map<string, number>>();
  const byName = new Map(tables.map((t) => [t.name, t]));
  for (const table of tables) {
    for (const fk of foreignKeys(table)) {
      const ref = fk.references && byName.get(fk.references.table);
      if (!ref || ref === table || fk.columns.length !== 1 || fk.references!.schema !== table.schema) continue;
      const counts = scores.get(ref) ?? new Map<string, number>();
      counts.set(fk.columns[0], (counts.get(fk.columns[0]) ?? 0) + 1);
      scores.set(ref, counts);
    }
  }
  if (options.tenantTable) {
    const table = byName.get(options.tenantTable);
    if (!table) {
      throw new TenancyError('unknown-table', `tenant table ${escapeText(options.tenantTable)} does not exist in schema ${escapeText(tables[0]?.schema ?? '')}`);
    }
    const counts = scores.get(table) ?? new Map<string, number>();
    const column = options.tenantColumn ?? [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
    if (!column) {
      throw new TenancyError('usage', `no table references ${escapeText(options.tenantTable)}; pass --tenant-column`);
    }
    return { table, column, why: 'given with --tenant-table' };
  }
  let best: { table: CatalogTable; column: string; score: number; why: string } | undefined;
  for (const [table, counts] of scores) {
    if (!singleKey(table)) continue;
    const [column, count] = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0];
    if (options.tenantColumn && column !== options.tenantColumn) continue;
    const carriers = tables.filter((t) => t !== table && findColumn(t, column)).length;
    const bonus = TENANT_NAMES.includes(table.name.toLowerCase()) ? 1.5 : 1;
    const score = (count + carriers) * bonus;
    if (!best || score > best.score) {
      best = {
        table,
        column,
        score,
        why: `${count} foreign keys reference it through "${column}", ${carriers} tables carry "${column}"`,
      };
    }
  }
  if (!best) {
    throw new TenancyError('usage', `cannot tell which table is the tenant table in schema ${escapeText(catalog.schemas[0] ?? '')}`, {
      hint: 'pass --tenant-table NAME (and --tenant-column NAME)',
    });
  }
  return best;
}

/**
 * Reads the catalog and classifies every table: the tenant table; scoped tables (they carry the
 * tenant column, or reach a scoped table or the tenant table through foreign keys), with backfill
 * paths from the FK graph; and the rest, exempt with a reason to fill in.
 */
export async function draftManifest(db: Queryable, options: DraftOptions = {}): Promise<ManifestDraft> {
  const schema = options.schema ?? 'public';
  const catalog = await readCatalog(db, [schema]);
  const tables = [...catalog.relations.values()].filter((t) => isTableLike(t) && !t.partitionOf);
  if (tables.length === 0) {
    throw new TenancyError('usage', `schema ${escapeText(schema)} has no tables`, { hint: 'pass --schema NAME' });
  }
  const tenant = guessTenant(catalog, tables, options);
  const tenantKey = singleKey(tenant.table)!;
  const tenantType = findColumn(tenant.table, tenantKey)!.type;

  // Scoped: carries the column, or references (transitively) the tenant table or a scoped table.
  const scoped = new Map<string, string>();
  for (const t of tables) {
    if (t === tenant.table) continue;
    if (findColumn(t, tenant.column)) scoped.set(t.name, `has column ${tenant.column}`);
  }
  let changed = true;
  while (changed) {
    changed = false;
    for (const t of tables) {
      if (t === tenant.table || scoped.has(t.name)) continue;
      for (const fk of foreignKeys(t)) {
        const ref = fk.references!;
        if (ref.schema !== schema) continue;
        if (ref.table === tenant.table.name) {
          scoped.set(t.name, `references ${ref.table} through ${fk.columns.join(', ')}`);
        } else if (scoped.has(ref.table)) {
          scoped.set(t.name, `reaches ${tenant.table.name} through ${fk.columns.join(', ')} → ${ref.table}`);
        }
        if (scoped.has(t.name)) {
          changed = true;
          break;
        }
      }
    }
  }
  const result: ManifestDraft['tables'] = [];
  for (const t of tables) {
    if (t === tenant.table) {
      result.push({ name: t.name, classification: { kind: 'tenant' } });
      continue;
    }
    const why = scoped.get(t.name);
    if (why) {
      // Backfill from single-column FKs to other scoped tables; NOT NULL ones first (always present).
      const backfill = foreignKeys(t)
        .filter((fk) => fk.columns.length === 1 && fk.references!.schema === schema && scoped.has(fk.references!.table))
        .filter((fk) => fk.columns[0] !== tenant.column)
        .sort((a, b) => {
          const an = findColumn(t, a.columns[0])?.notNull ? 0 : 1;
          const bn = findColumn(t, b.columns[0])?.notNull ? 0 : 1;
          return an - bn;
        })
        .map((fk) => fk.columns[0]);
      result.push({ name: t.name, classification: { kind: 'scoped', why, backfill: [...new Set(backfill)] } });
    } else {
      result.push({
        name: t.name,
        classification: { kind: 'exempt', why: `no ${tenant.column} column and no foreign-key path to ${tenant.table.name}` },
      });
    }
  }
  const appRoles = await guessAppRoles(db, schema);
  return {
    schema,
    tenantTable: tenant.table.name,
    tenantKey,
    tenantColumn: tenant.column,
    tenantType,
    setting: `app.current_${tenant.column.replace(/[^A-Za-z0-9_]/g, '_')}`,
    appRoles,
    tenantWhy: tenant.why,
    tables: result,
  };
}

/** Non-superuser roles (other than the owner) holding DML privileges on tables of the schema. */
async function guessAppRoles(db: Queryable, schema: string): Promise<string[]> {
  const result = await db.query<{ role: string }>(
    `SELECT DISTINCT r.rolname AS role
       FROM pg_catalog.pg_class c
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       CROSS JOIN LATERAL aclexplode(c.relacl) acl
       JOIN pg_catalog.pg_roles r ON r.oid = acl.grantee
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND acl.grantee <> c.relowner
        AND acl.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE')
        AND NOT r.rolsuper AND r.rolname !~ '^pg_'
      ORDER BY 1`,
    [schema],
  );
  return result.rows.map((r) => r.role);
}

const PLAIN_SCALAR = /^[A-Za-z_][A-Za-z0-9_$.]*$/;
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/gu;

/**
 * One YAML scalar on one line, written by the yaml library: plain when the library writes it plain
 * and it is an ordinary name (safe as a key, a value and a flow-sequence item), else double-quoted
 * with escapes, never folded and never a block scalar. Characters the library leaves raw inside
 * double quotes (DEL, C1, U+2028/U+2029: line breaks for YAML 1.1 readers) become \u escapes.
 *
 * @example yamlScalar('deals') // => deals
 * @example yamlScalar('notes\nDELETE') // => "notes\nDELETE"
 */
export function yamlScalar(value: string): string {
  const plain = stringify(value).trimEnd();
  if (PLAIN_SCALAR.test(plain)) return plain;
  const node = new Scalar(value);
  node.type = Scalar.QUOTE_DOUBLE;
  const quoted = stringify(node, { lineWidth: 0, doubleQuotedMinMultiLineLength: Number.MAX_SAFE_INTEGER }).trimEnd();
  return quoted.replace(UNSAFE, (ch) => `\\u${ch.codePointAt(0)!.toString(16).padStart(4, '0')}`);
}

const key = yamlScalar;
/** A comment's text: names in it cannot end the comment line. */
const note = (text: string): string => escapeText(text);

/** Renders a draft as commented YAML, ready for review. */
export function renderDraft(draft: ManifestDraft): string {
  const lines: string[] = [];
  lines.push('# tenancy.yaml drafted by `crm-tenancy init`. Review every line before relying on it:');
  lines.push('# each table says why it was classified so, and every exempt table needs a real reason.');
  lines.push(`schema: ${key(draft.schema)}`);
  lines.push('tenant:');
  lines.push(`  table: ${key(draft.tenantTable)}          # ${note(draft.tenantWhy)}`);
  lines.push(`  key: ${key(draft.tenantKey)}                # type ${note(draft.tenantType)}`);
  lines.push(`  column: ${key(draft.tenantColumn)}`);
  lines.push(`  setting: ${key(draft.setting)}   # what the application sets per transaction`);
  lines.push('roles:');
  if (draft.appRoles.length > 0) {
    lines.push(`  app: [${draft.appRoles.map(key).join(', ')}]   # roles holding table privileges; keep those the application uses`);
  } else {
    lines.push('  app: [app_user]   # TODO: the role(s) your application connects as');
  }
  lines.push('tables:');
  const scoped = draft.tables.filter((t) => t.classification.kind === 'scoped');
  for (const t of scoped) {
    const c = t.classification as Extract<Classification, { kind: 'scoped' }>;
    lines.push(`  # ${note(c.why)}`);
    if (c.backfill.length > 0) {
      lines.push(`  ${key(t.name)}:`);
      lines.push(`    backfill: [${c.backfill.map(key).join(', ')}]`);
    } else {
      lines.push(`  ${key(t.name)}: {}`);
    }
  }
  const exempt = draft.tables.filter((t) => t.classification.kind === 'exempt');
  if (exempt.length > 0) {
    lines.push('exempt:');
    for (const t of exempt) {
      const c = t.classification as Extract<Classification, { kind: 'exempt' }>;
      lines.push(`  # ${note(c.why)}`);
      lines.push(`  ${key(t.name)}: "TODO: reason"`);
    }
  }
  return `${lines.join('\n')}\n`;
}

// Finds polymorphic pairs (a type column naming the target table, an id column naming the row) and
// reads the whole table to tell whether the data proves them: every type value names exactly one table,
// every id is a row of it. Rails/Laravel/Prisma `X_type`/`X_id` text pairs and Django content types.
import type { Queryable } from '../db/connection.js';
import { findColumn, foreignKeys, type CatalogTable } from '../db/catalog.js';
import { ident, qualified } from '../db/quote.js';

/** One type value and the table it names. */
export interface PolymorphicTarget {
  type: string;
  table: string;
}

/** A type column / id column pair, and what the data says about it. */
export interface PolymorphicPair {
  typeColumn: string;
  idColumn: string;
  /** Type value → table, for the values that name exactly one table of the schema. */
  targets: PolymorphicTarget[];
  /** Type values that name no table. */
  unmatched: string[];
  /** Type values that could name several tables (e.g. both `invoice` and `invoices` exist). */
  ambiguous: string[];
  /** How the type values were read as table names, e.g. `Rails class names (Invoice → invoices)`. */
  convention: string;
  /** Rows with a type value (all of them were read). */
  rows: number;
  /** Rows whose id is not a row of the table their type names (or whose table has no single-column key). */
  dangling: number;
  /** Targets without a single-column primary key: the ids cannot be checked, nor enforced. */
  keyless: string[];
  /** More distinct type values than MAX_TYPE_VALUES: not a handful of model classes. */
  tooMany: boolean;
}

/** Most distinct type values a pair may have to be proposed (more: a free-form column, not model classes). */
export const MAX_TYPE_VALUES = 50;

/** `PaymentRequest` → `payment_requests`; `Billing::Invoice` → `billing_invoices` (Rails' tableize). */
export function railsTableName(type: string): string {
  const snake = snakeCase(type);
  if (/[^aeiou]y$/.test(snake)) return `${snake.slice(0, -1)}ies`;
  if (/(s|x|z|ch|sh)$/.test(snake)) return `${snake}es`;
  return `${snake}s`;
}

/** `PaymentRequest` → `payment_request`; `Admin::User` → `admin_user`. */
function snakeCase(type: string): string {
  return type
    .replace(/::/g, '_')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .replace(/([a-z\d])([A-Z])/g, '$1_$2')
    .toLowerCase();
}

/**
 * The tables a class-name type value may name, with the convention: the name itself (Prisma's default
 * table name is the model name), Rails' tableize (`Admin::User` → `admin_users`), Laravel's class
 * (`App\Models\Invoice` → `invoices`), and the snake_case singular (a mapped Prisma model).
 */
export function candidateTables(value: string): { table: string; how: string }[] {
  const laravel = value.includes('\\');
  const base = laravel ? value.slice(value.lastIndexOf('\\') + 1) : value;
  return [
    { table: value, how: 'the table of that name' },
    { table: railsTableName(base), how: laravel ? 'Laravel class → table' : 'Rails class → table' },
    { table: snakeCase(base), how: 'snake_case model → table' },
  ];
}

/** A content-type table the Django way: id, app_label, model. */
function isContentTypeTable(t: CatalogTable | undefined): boolean {
  return Boolean(t && findColumn(t, 'app_label') && findColumn(t, 'model') && t.primaryKey?.length === 1);
}

/**
 * The table's polymorphic pairs, each read in full (one GROUP BY scan of the type column, one
 * anti-join per target for the ids): `X_type` text columns with an `X_id` column, and Django
 * `X_content_type_id` foreign keys to a content-type table with an `X_object_id` column.
 */
export async function polymorphicPairs(db: Queryable, t: CatalogTable, tables: ReadonlyMap<string, CatalogTable>): Promise<PolymorphicPair[]> {
  const pairs: PolymorphicPair[] = [];
  const from = qualified(t.schema, t.name);
  for (const c of t.columns) {
    const rails = /^(.+)_type$/.exec(c.name);
    const django = /^(.*)content_type_id$/.exec(c.name);
    let idName: string;
    let values: { v: string; n: string; names: string[] }[];
    let convention: string;
    if (rails && /^(text|character varying|varchar|citext)/.test(c.type) && findColumn(t, `${rails[1]}_id`)) {
      idName = `${rails[1]}_id`;
      const r = await db.query<{ v: string; n: string }>(
        `SELECT ${ident(c.name)}::text AS v, count(*)::int8 AS n FROM ${from} WHERE ${ident(c.name)} IS NOT NULL GROUP BY 1 ORDER BY 1 LIMIT ${MAX_TYPE_VALUES + 1}`,
      );
      values = r.rows.map((row) => ({ ...row, names: [] }));
      convention = 'class names';
    } else if (django && findColumn(t, `${django[1]}object_id`)) {
      const fk = foreignKeys(t).find((f) => f.columns.length === 1 && f.columns[0] === c.name && f.references?.schema === t.schema);
      const ct = fk ? tables.get(fk.references!.table) : undefined;
      if (!fk || !ct || !isContentTypeTable(ct)) continue;
      idName = `${django[1]}object_id`;
      const r = await db.query<{ v: string; n: string; app: string; model: string }>(
        `SELECT x.${ident(c.name)}::text AS v, count(*)::int8 AS n, min(ct.app_label) AS app, min(ct.model) AS model
           FROM ${from} x JOIN ${qualified(ct.schema, ct.name)} ct ON ct.${ident(fk.references!.columns[0])} = x.${ident(c.name)}
          GROUP BY 1 ORDER BY 1 LIMIT ${MAX_TYPE_VALUES + 1}`,
      );
      values = r.rows.map((row) => ({ v: row.v, n: row.n, names: [`${row.app}_${row.model}`] }));
      convention = `Django content type → app_label_model table`;
    } else {
      continue;
    }
    const pair: PolymorphicPair = {
      typeColumn: c.name,
      idColumn: idName,
      targets: [],
      unmatched: [],
      ambiguous: [],
      convention,
      rows: values.reduce((sum, v) => sum + Number(v.n), 0),
      dangling: 0,
      keyless: [],
      tooMany: values.length > MAX_TYPE_VALUES,
    };
    const hows = new Map<string, string[]>();
    for (const { v, names } of values.slice(0, MAX_TYPE_VALUES)) {
      const candidates = names.length > 0 ? names.map((table) => ({ table, how: convention })) : candidateTables(v);
      const found = [...new Map(candidates.filter((x) => tables.has(x.table)).map((x) => [x.table, x])).values()];
      if (found.length === 1) {
        pair.targets.push({ type: v, table: found[0].table });
        hows.set(found[0].how, [...(hows.get(found[0].how) ?? []), `${v} → ${found[0].table}`]);
      } else if (found.length === 0) pair.unmatched.push(v);
      else pair.ambiguous.push(v);
    }
    if (hows.size > 0) pair.convention = [...hows].map(([how, seen]) => `${how} (${seen.join(', ')})`).join('; ');
    const id = findColumn(t, idName)!;
    for (const target of pair.targets) {
      const rel = tables.get(target.table)!;
      const key = rel.primaryKey?.length === 1 ? findColumn(rel, rel.primaryKey[0]) : undefined;
      if (!key) {
        pair.keyless.push(target.table);
        continue;
      }
      const match = key.type === id.type ? `y.${ident(key.name)} = x.${ident(id.name)}` : `y.${ident(key.name)}::text = x.${ident(id.name)}::text`;
      const r = await db.query<{ n: string }>(
        `SELECT count(*)::int8 AS n FROM ${from} x
          WHERE x.${ident(c.name)}::text = $1 AND x.${ident(id.name)} IS NOT NULL
            AND NOT EXISTS (SELECT FROM ${qualified(rel.schema, rel.name)} y WHERE ${match})`,
        [target.type],
      );
      pair.dangling += Number(r.rows[0].n);
    }
    pairs.push(pair);
  }
  return pairs;
}

/**
 * Why the data does not prove the pair (undefined: it does). Every target must also be a scoped table
 * (the enforcing trigger checks the target's tenant), which only the whole draft knows.
 */
export function pairDoubt(p: PolymorphicPair, scoped: ReadonlySet<string>): string | undefined {
  if (p.tooMany) return `more than ${MAX_TYPE_VALUES} type values`;
  if (p.rows === 0) return 'no type values seen';
  if (p.unmatched.length > 0) return `no table for ${p.unmatched.join(', ')}`;
  if (p.ambiguous.length > 0) return `several tables could be meant by ${p.ambiguous.join(', ')}`;
  if (p.keyless.length > 0) return `no single-column primary key on ${p.keyless.join(', ')}`;
  if (p.dangling > 0) return `${p.dangling} row(s) name an id that is not there`;
  const unscoped = [...new Set(p.targets.map((x) => x.table).filter((x) => !scoped.has(x)))];
  if (unscoped.length > 0) return `${unscoped.join(', ')} ${unscoped.length === 1 ? 'is' : 'are'} not scoped`;
  return undefined;
}

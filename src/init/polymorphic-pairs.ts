// Finds polymorphic pairs (a type column naming the target table, an id column naming the row) and
// reads the data to tell whether it proves them: every type value names exactly one table, every id
// is a row of it. Rails/Laravel/Prisma `X_type`/`X_id` text pairs and Django content types. The type
// values come from a loose index scan when an index allows (type-values.ts); every read is bounded
// (inference-bound.ts): one that hits the bound leaves the pair a TODO saying so.
import type { Queryable } from '../db/connection.js';
import { findColumn, foreignKeys, type CatalogColumn, type CatalogTable } from '../db/catalog.js';
import { ident, qualified } from '../db/quote.js';
import { approxRows, formatMs, hitBound } from './inference-bound.js';
import { distinctValuesSql, looseScanIndex } from './type-values.js';

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
  /** Rows whose type value names a target (counted by the id checks). */
  rows: number;
  /** Rows whose id is not a row of the table their type names (or whose table has no single-column key). */
  dangling: number;
  /** Targets without a single-column primary key: the ids cannot be checked, nor enforced. */
  keyless: string[];
  /** More distinct type values than MAX_TYPE_VALUES: not a handful of model classes. */
  tooMany: boolean;
  /** The index the type values were read through (a loose index scan); undefined: read in full. */
  index?: string;
  /** A read stopped by the inference bound (statement_timeout / lock_timeout), and what to do: a TODO. */
  unread?: string;
}

/** How the pair's reads are bounded: the statement_timeout in force, for the reason a stopped read gives. */
export interface PairReadOptions {
  timeoutMs?: number;
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
 * The table's polymorphic pairs: `X_type` text columns with an `X_id` column, and Django
 * `X_content_type_id` foreign keys to a content-type table with an `X_object_id` column. Per pair, the
 * distinct type values (a loose index scan, or one read of the column), then per target one count of
 * its rows and of those whose id is not a row of it.
 */
export async function polymorphicPairs(
  db: Queryable,
  t: CatalogTable,
  tables: ReadonlyMap<string, CatalogTable>,
  options: PairReadOptions = {},
): Promise<PolymorphicPair[]> {
  const pairs: PolymorphicPair[] = [];
  const from = qualified(t.schema, t.name);
  const within = options.timeoutMs === undefined ? '' : ` within ${formatMs(options.timeoutMs)}`;
  const size = approxRows(t.estimatedRows);
  const of = `${t.name}${size ? ` (${size})` : ''}`;
  /** The reason a read stopped by the bound leaves, e.g. `type column of events (≈120M rows) not read within 30s: …`. */
  const stopped = (error: Error & { code: string }, what: string, c: CatalogColumn, index: string | undefined): string => {
    if (error.code === '55P03') return `${what} of ${of} not read: a lock on ${t.name} was not granted within lock_timeout; run init again when it is free`;
    return `${what} of ${of} not read${within}: ${index ? '' : `add an index on (${c.name}) or `}raise --inference-timeout`;
  };
  for (const c of t.columns) {
    const rails = /^(.+)_type$/.exec(c.name);
    const django = /^(.*)content_type_id$/.exec(c.name);
    let idName: string;
    let convention: string;
    let ct: CatalogTable | undefined;
    let ctKey = '';
    if (rails && /^(text|character varying|varchar|citext)/.test(c.type) && findColumn(t, `${rails[1]}_id`)) {
      idName = `${rails[1]}_id`;
      convention = 'class names';
    } else if (django && findColumn(t, `${django[1]}object_id`)) {
      const fk = foreignKeys(t).find((f) => f.columns.length === 1 && f.columns[0] === c.name && f.references?.schema === t.schema);
      ct = fk ? tables.get(fk.references!.table) : undefined;
      if (!fk || !ct || !isContentTypeTable(ct)) continue;
      ctKey = fk.references!.columns[0];
      idName = `${django[1]}object_id`;
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
      rows: 0,
      dangling: 0,
      keyless: [],
      tooMany: false,
    };
    pairs.push(pair);
    // The distinct type values, the first MAX_TYPE_VALUES + 1 in the column's order (the same rows
    // whichever way they are read), shown in text order. NULL type values are not values.
    let values: { v: string; names: string[] }[];
    let distinct: number;
    try {
      pair.index = await looseScanIndex(db, t, c);
      const d = distinctValuesSql(t, c, MAX_TYPE_VALUES + 1, pair.index);
      if (ct) {
        const r = await db.query<{ v: string | null; app: string | null; model: string | null }>(
          `SELECT d.v::text AS v, ct.app_label AS app, ct.model AS model
             FROM (${d}) d LEFT JOIN ${qualified(ct.schema, ct.name)} ct ON ct.${ident(ctKey)} = d.v
            ORDER BY 1`,
        );
        distinct = r.rows.length;
        // A value without a content-type row (a NOT VALID foreign key) names nothing: left out, as before.
        values = r.rows.filter((row) => row.app !== null).map((row) => ({ v: row.v!, names: [`${row.app}_${row.model}`] }));
      } else {
        const r = await db.query<{ v: string }>(`SELECT d.v::text AS v FROM (${d}) d ORDER BY 1`);
        distinct = r.rows.length;
        values = r.rows.map((row) => ({ v: row.v, names: [] }));
      }
    } catch (error) {
      if (!hitBound(error)) throw error;
      pair.unread = stopped(error, `type column ${c.name}`, c, pair.index);
      continue;
    }
    pair.tooMany = distinct > MAX_TYPE_VALUES;
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
    if (pair.tooMany) continue;
    const id = findColumn(t, idName)!;
    // `col = $1` (the parameter takes the column's type) can use an index on the type column; citext
    // compares the text, as the values were read.
    const typeMatch = /^citext/.test(c.type) ? `x.${ident(c.name)}::text = $1` : `x.${ident(c.name)} = $1`;
    for (const target of pair.targets) {
      const rel = tables.get(target.table)!;
      const key = rel.primaryKey?.length === 1 ? findColumn(rel, rel.primaryKey[0]) : undefined;
      if (!key) {
        pair.keyless.push(target.table);
        continue;
      }
      const match = key.type === id.type ? `y.${ident(key.name)} = x.${ident(id.name)}` : `y.${ident(key.name)}::text = x.${ident(id.name)}::text`;
      try {
        // The key is the target's single-column primary key: the LEFT JOIN finds at most one row.
        const r = await db.query<{ n: string; dangling: string }>(
          `SELECT count(*)::int8 AS n, count(*) FILTER (WHERE x.${ident(id.name)} IS NOT NULL AND y.${ident(key.name)} IS NULL)::int8 AS dangling
             FROM ${from} x LEFT JOIN ${qualified(rel.schema, rel.name)} y ON ${match}
            WHERE ${typeMatch}`,
          [target.type],
        );
        pair.rows += Number(r.rows[0].n);
        pair.dangling += Number(r.rows[0].dangling);
      } catch (error) {
        if (!hitBound(error)) throw error;
        pair.unread = stopped(error, `${id.name} values of type ${target.type}`, c, pair.index);
        break;
      }
    }
  }
  return pairs;
}

/**
 * Why the data does not prove the pair (undefined: it does). Every target must also be a scoped table
 * (the enforcing trigger checks the target's tenant), which only the whole draft knows.
 */
export function pairDoubt(p: PolymorphicPair, scoped: ReadonlySet<string>): string | undefined {
  if (p.unread) return p.unread;
  if (p.tooMany) return `more than ${MAX_TYPE_VALUES} type values`;
  if (p.targets.length + p.unmatched.length + p.ambiguous.length === 0) return 'no type values seen';
  if (p.unmatched.length > 0) return `no table for ${p.unmatched.join(', ')}`;
  if (p.ambiguous.length > 0) return `several tables could be meant by ${p.ambiguous.join(', ')}`;
  if (p.keyless.length > 0) return `no single-column primary key on ${p.keyless.join(', ')}`;
  if (p.dangling > 0) return `${p.dangling} row(s) name an id that is not there`;
  const unscoped = [...new Set(p.targets.map((x) => x.table).filter((x) => !scoped.has(x)))];
  if (unscoped.length > 0) return `${unscoped.join(', ')} ${unscoped.length === 1 ? 'is' : 'are'} not scoped`;
  return undefined;
}

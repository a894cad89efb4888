// Polymorphic `*_type`/`*_id` pairs against the live catalog: their targets, the join that finds a target row, and the audit's scans of them.
import type { Catalog, CatalogColumn, CatalogTable } from '../db/catalog.js';
import { findColumn, findRelation } from '../db/catalog.js';
import { escapeText, ident, literal, qualified, regclassText } from '../db/quote.js';
import { fitIdentifier } from '../migrate/plan.js';
import type { Manifest, PolymorphicReference } from '../config/manifest.js';
import { fillTemplate } from './sql-params.js';
import { isPartitioned, sampleFetchSql, sampleIds, type DataPlanner, type ScanPart } from './data-checks.js';
import type { DataProof } from './types.js';

/** One target of a pair, resolved: the table, its single-column key, and where its tenant is. */
export interface PolymorphicTarget {
  type: string;
  table: string;
  key: CatalogColumn;
  /** The tenant key for the tenant table itself, else its tenant column. */
  tenant: CatalogColumn;
  isTenantTable: boolean;
}

/** A pair of a scoped table with every target the database can answer for. */
export interface ResolvedPair {
  table: string;
  catalog: CatalogTable;
  ref: PolymorphicReference;
  typeColumn: CatalogColumn;
  idColumn: CatalogColumn;
  targets: PolymorphicTarget[];
  /** Targets left out (no such table, no single-column primary key, no tenant column yet), with why. */
  unresolved: { type: string; table: string; reason: string }[];
}

const TEXT_TYPES = new Set([25, 1043, 1042]); // text, varchar, bpchar
const INTEGER_TYPES = new Map([
  [21, ['-32768', '32767']],
  [23, ['-2147483648', '2147483647']],
  [20, ['-9223372036854775808', '9223372036854775807']],
]);
const UUID = 2950;
/** uuid_out's form: the only texts equal to a uuid's text form. */
const UUID_TEXT = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
/** int8out's form (no sign for 0, no leading zeros): the only texts equal to an integer's text form. */
const INTEGER_TEXT = '^(0|-?[1-9][0-9]{0,18})$';

/**
 * The condition `target key = the row's id` of a pair, with the meaning of `key::text = id::text`
 * (the id column is often text while the keys are uuid or bigint) but written so the target's key
 * index serves it: the cast is on the pair's side, where each batch row is one probe of the key
 * index (a nested loop), instead of `key::text`, which no index covers and which makes every batch
 * read the whole target. The CASE guard admits exactly the texts a key prints as (uuid_out and
 * int8out print one canonical form), so a value that is no key's text never raises a cast error
 * and matches nothing, as the text comparison would. Same types compare directly.
 *
 * @example targetMatch(uuidKey, textId, 'p', 't') // => p."id" = (CASE WHEN t."item_id" ~ '^[0-9a-f]{8}-…$' THEN t."item_id"::uuid END)
 */
export function targetMatch(key: CatalogColumn, id: CatalogColumn, p: string, t: string): string {
  const k = `${p}.${ident(key.name)}`;
  const raw = `${t}.${ident(id.name)}`;
  if (key.typeOid === id.typeOid || (INTEGER_TYPES.has(key.typeOid) && INTEGER_TYPES.has(id.typeOid))) return `${k} = ${raw}`;
  const text = id.typeOid === 25 ? raw : `${raw}::text`;
  if (TEXT_TYPES.has(key.typeOid)) return `${k} = ${text}`;
  if (key.typeOid === UUID && TEXT_TYPES.has(id.typeOid)) {
    return `${k} = (CASE WHEN ${text} ~ ${literal(UUID_TEXT)} THEN ${text}::uuid END)`;
  }
  const bounds = INTEGER_TYPES.get(key.typeOid);
  if (bounds && TEXT_TYPES.has(id.typeOid)) {
    // Ordered CASE branches: the numeric range test runs only on digit strings, the cast only in range.
    return `${k} = (CASE WHEN ${text} !~ ${literal(INTEGER_TEXT)} THEN NULL WHEN ${text}::numeric BETWEEN ${bounds[0]} AND ${bounds[1]} THEN ${text}::${key.type} END)`;
  }
  // Any other pairing of types: the plain text comparison (correct; no index on the target key helps).
  return `${k}::text = ${text}`;
}

/** `t.type::text = 'Invoice'`: the type value is the manifest's constant, printed through `literal`. */
export function typeIs(typeColumn: string, type: string, t = 't'): string {
  return `${t}.${ident(typeColumn)}::text = ${literal(type)}`;
}

/** Rows whose type is set but names none of the pair's targets. */
export function typeNamesNoTarget(ref: PolymorphicReference, t = 't'): string {
  const types = ref.targets.map((x) => literal(x.type)).join(', ');
  return `${t}.${ident(ref.typeColumn)} IS NOT NULL AND ${t}.${ident(ref.typeColumn)}::text NOT IN (${types})`;
}

/**
 * The name of the trigger that enforces a pair: the validate phase installs it under this name
 * (src/migrate: `<table>_<type>_<id>_tenant_trigger`, cut to 63 bytes with a hash) and the audit
 * takes it as the pair's proof.
 *
 * @example polymorphicTriggerName('payments', { typeColumn: 'payable_type', idColumn: 'payable_id' }) // => 'payments_payable_type_payable_id_tenant_trigger'
 */
export function polymorphicTriggerName(table: string, ref: Pick<PolymorphicReference, 'typeColumn' | 'idColumn'>): string {
  return fitIdentifier(`${table}_${ref.typeColumn}_${ref.idColumn}_tenant_trigger`.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/gu, '_'));
}

/**
 * Whether the pair's trigger exists, is enabled for ordinary sessions and fires for every row on
 * INSERT and UPDATE ($1 = the table as regclass text, $2 = the trigger's name). One row when so.
 */
export const ENFORCING_TRIGGER_SQL = `SELECT 1 FROM pg_catalog.pg_trigger g
 WHERE g.tgrelid = to_regclass($1) AND g.tgname = $2 AND NOT g.tgisinternal AND g.tgenabled IN ('O', 'A')
   AND (g.tgtype & 1) <> 0 AND (g.tgtype & 4) <> 0 AND (g.tgtype & 16) <> 0`;

/** Every pair of the manifest's scoped tables that exist, with its targets resolved against the catalog. */
export function resolvePairs(manifest: Manifest, catalog: Catalog): ResolvedPair[] {
  const { schema, tenant } = manifest;
  const pairs: ResolvedPair[] = [];
  for (const entry of manifest.tables) {
    const table = findRelation(catalog, schema, entry.name);
    if (!table) continue;
    for (const ref of entry.polymorphic) {
      const typeColumn = findColumn(table, ref.typeColumn);
      const idColumn = findColumn(table, ref.idColumn);
      if (!typeColumn || !idColumn) continue; // the live-context check reports it (exit 2)
      const targets: PolymorphicTarget[] = [];
      const unresolved: ResolvedPair['unresolved'] = [];
      for (const { type, table: name } of ref.targets) {
        const target = findRelation(catalog, schema, name);
        const isTenantTable = name === tenant.table;
        const keyName = isTenantTable ? tenant.key : target?.primaryKey?.length === 1 ? target.primaryKey[0] : undefined;
        const key = target && keyName ? findColumn(target, keyName) : undefined;
        const tenantColumn = target ? findColumn(target, isTenantTable ? tenant.key : tenant.column) : undefined;
        if (!target) unresolved.push({ type, table: name, reason: 'no such table' });
        else if (!key) unresolved.push({ type, table: name, reason: 'no single-column primary key' });
        else if (!tenantColumn) unresolved.push({ type, table: name, reason: `no ${tenant.column} column yet` });
        else targets.push({ type, table: name, key, tenant: tenantColumn, isTenantTable });
      }
      pairs.push({ table: entry.name, catalog: table, ref, typeColumn, idColumn, targets, unresolved });
    }
  }
  return pairs;
}

const rows = (n: number) => `${n} row${n === 1 ? '' : 's'}`;

/**
 * cross-tenant-reference, for polymorphic pairs: per pair one scan counting, per target, the rows
 * whose target (chosen by the type) has another tenant, and one scan of rows whose type names no
 * target. A pair has no foreign key, so nothing proves it but its enforcing trigger: the scan
 * first asks for it (at run time, in the audit's snapshot) and is skipped when it is there and
 * enabled, unless deep. The trigger's contract (src/migrate, the validate phase) covers both: it
 * rejects a row whose type names no target as well as one whose target is of another tenant.
 */
export const planPolymorphicReferences: DataPlanner = (check, context, plan) => {
  const { manifest } = context;
  const { schema } = manifest;
  const tenantName = manifest.tenant.column;
  for (const pair of resolvePairs(manifest, context.catalog)) {
    const { ref } = pair;
    const table = qualified(schema, pair.table);
    const key = pair.catalog.primaryKey?.length ? pair.catalog.primaryKey.map((c) => `t.${ident(c)}`).join(', ') : 't.ctid';
    const object = `${ref.typeColumn}/${ref.idColumn}`;
    const tenant = findColumn(pair.catalog, tenantName);
    const trigger = polymorphicTriggerName(pair.table, ref);
    const partitioned = isPartitioned(pair.catalog);
    // Asked at run time (the catalog snapshot has no triggers); never with deep.
    const provenBy = (proof: DataProof) =>
      context.deep
        ? {}
        : { provenBy: { sql: ENFORCING_TRIGGER_SQL, values: [regclassText(schema, pair.table), trigger], proof: `enforced by trigger ${trigger}`, proofs: [proof] } };
    if (tenant && pair.targets.length > 0) {
      const joins: string[] = [];
      const counts: string[] = [];
      const bad: string[] = [];
      const parts: ScanPart[] = [];
      pair.targets.forEach((target, k) => {
        const p = ident(`p${k}`);
        const comparable = target.tenant.typeOid === tenant.typeOid;
        const cast = comparable ? '' : '::text';
        const values = {
          table,
          key,
          k: String(k),
          p,
          target: qualified(schema, target.table),
          type_is: typeIs(ref.typeColumn, target.type),
          match: targetMatch(target.key, pair.idColumn, p, 't'),
          tenant: `${ident(tenantName)}${cast}`,
          target_tenant: `${ident(target.tenant.name)}${cast}`,
        };
        const condition = fillTemplate(check.sections.pair_condition, values);
        joins.push(fillTemplate(check.sections.pair_join, values));
        counts.push(fillTemplate(check.sections.pair_count, { ...values, ids: sampleIds(partitioned, condition) }));
        bad.push(`(${condition})`);
        parts.push({
          check: check.id,
          table: pair.table,
          object: `${object} → ${target.table}`,
          sampleSql: sampleFetchSql(table, key, partitioned),
          describe: (n) =>
            `${rows(n)} of ${schema}.${pair.table} point${n === 1 ? 's' : ''} through ${object} (type '${target.type}') at a ${target.table} row of another tenant`,
        });
      });
      const proof: DataProof = { check: check.id, table: pair.table, object, status: 'scanned' };
      plan.proofs.push(proof);
      plan.scans.push({
        target: `${pair.table} → ${pair.targets.map((t) => t.table).join(', ')}`,
        tables: [pair.table, ...pair.targets.map((t) => t.table)],
        // Only bad rows reach the aggregate: its sample ids sort no other row.
        sql: fillTemplate(check.sections.pair_scan, { table, counts: counts.join(',\n       '), joins: joins.join('\n  '), bad: bad.join(' OR ') }),
        parts,
        ...provenBy(proof),
      });
    }
    const typesProof: DataProof = { check: check.id, table: pair.table, object: `${ref.typeColumn} (types)`, status: 'scanned' };
    plan.proofs.push(typesProof);
    const values = { table, key, untyped: typeNamesNoTarget(ref), type: ident(ref.typeColumn), ids: sampleIds(partitioned, 'true') };
    const targets = ref.targets.map((t) => t.type).join(', ');
    plan.scans.push({
      target: `${pair.table} (${ref.typeColumn})`,
      tables: [pair.table],
      sql: fillTemplate(check.sections.untyped_count, values),
      ...provenBy(typesProof),
      parts: [
        {
          check: check.id,
          table: pair.table,
          object: ref.typeColumn,
          sampleSql: sampleFetchSql(table, key, partitioned),
          describe: (n, row) => {
            const named = ((row?.t0 ?? []) as unknown as string[]).map((v) => `'${escapeText(v)}'`);
            const list = named.length > 0 ? named.join(', ') : 'a type value';
            return `${rows(n)} of ${schema}.${pair.table} point${n === 1 ? 's' : ''} through ${object} at nothing: type ${list} name${named.length > 1 ? '' : 's'} no target (targets: ${targets})`;
          },
        },
      ],
    });
  }
};

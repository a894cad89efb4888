// Renders one plan step as SQL: each statement with the lock it takes, and its undo.
import type { LiveContext } from '../config/live-context.js';
import { findRelation, type CatalogConstraint } from '../db/catalog.js';
import { commentName, commentText, ident, literal, qualified, regclassText, typeSql } from '../db/quote.js';
import type { MigrationMeta, Precondition } from './migration-file.js';
import type { PlanStep } from './plan.js';
import { isPartitioned, renderPartitioned } from './render-partitions.js';
import { renderPolymorphic } from './render-polymorphic.js';
import { renderSharedRef } from './render-shared-refs.js';
import { concurrentIndex, doBlock, transaction } from './render-sql.js';
import { renderView } from './render-views.js';
import { assertWhere } from './where-clause.js';

function deferrableClause(fk: CatalogConstraint): string {
  if (!fk.deferrable) return '';
  return /INITIALLY DEFERRED/i.test(fk.definition) ? ' DEFERRABLE INITIALLY DEFERRED' : ' DEFERRABLE';
}

/** ON DELETE / ON UPDATE of a composite FK: SET NULL / SET DEFAULT name the FK column only (PG15+). */
function actionClauses(fk: CatalogConstraint, column: string, composite: boolean): string {
  const ref = fk.references!;
  let out = '';
  if (ref.onDelete !== 'NO ACTION') {
    const list = composite && (ref.onDelete === 'SET NULL' || ref.onDelete === 'SET DEFAULT') ? ` (${ident(column)})` : '';
    out += ` ON DELETE ${ref.onDelete}${list}`;
  }
  if (ref.onUpdate !== 'NO ACTION') out += ` ON UPDATE ${ref.onUpdate}`;
  return out;
}


const INT_TYPES = new Set(['integer', 'smallint']);

export interface Rendered {
  up: string[];
  down: string[];
  preconditions: Precondition[];
  dropsColumns: MigrationMeta['dropsColumns'];
}

/** The up and down SQL of one step, with the preconditions it needs and the columns its down drops. */
export function renderStep(live: LiveContext, step: PlanStep, steps: PlanStep[]): Rendered {
  const { schema, tenant } = live.manifest;
  const c = tenant.column;
  const ty = typeSql(live.tenantType);
  const t = qualified(schema, step.table);
  const tn = commentName(schema, step.table);
  const defaultExpr = `nullif(current_setting(${literal(tenant.setting)}, true), '')::${ty}`;
  const out: Rendered = { up: [], down: [], preconditions: [], dropsColumns: [] };
  if (isPartitioned(step)) {
    const where = step.kind === 'unique' && step.where !== undefined ? assertWhere(schema, step.table, step.where) : undefined;
    const clauses =
      step.kind === 'composite-fk'
        ? { composite: actionClauses(step.old!, step.column, true) + deferrableClause(step.old!), old: actionClauses(step.old!, step.column, false) + deferrableClause(step.old!) }
        : undefined;
    const r = renderPartitioned(live, step.kind === 'unique' && where !== undefined ? { ...step, where } : step, clauses);
    out.up.push(...r.up);
    out.down.push(...r.down);
    if (step.kind === 'validate-tenant-fk') {
      out.preconditions.push({ kind: 'tenant-exists', schema, table: step.table, column: c, tenantTable: tenant.table, tenantKey: tenant.key });
    }
    if (step.kind === 'unique') {
      out.preconditions.push({ kind: 'unique', schema, table: step.table, columns: step.columns, ...(where !== undefined ? { where } : {}) });
    }
    if (step.kind === 'composite-fk' && step.exists !== 'valid') {
      out.preconditions.push({ kind: 'same-tenant', schema, table: step.table, column: step.column, tenantColumn: c, parent: step.parent, parentKey: step.parentKey });
    }
    return out;
  }
  if (findRelation(live.catalog, schema, step.table)?.kind === 'partitioned-table' && /^(add-column|set-default|not-null)$/.test(step.kind)) {
    out.up.push(`-- ${tn} is partitioned: this goes on the parent and PostgreSQL applies it to every partition (each lock below is taken on all of them).`);
  }
  switch (step.kind) {
    case 'add-column': {
      const table = findRelation(live.catalog, schema, step.table);
      out.up.push(
        `-- Add ${commentName(c)} (${commentText(ty)}, like ${commentName(tenant.table, tenant.key)}), stamped from ${commentText(tenant.setting)} on insert.`,
        `-- Lock: ACCESS EXCLUSIVE on ${tn} for an instant (catalog only: no rewrite, no scan).`,
        `-- squawk: current_setting() is STABLE, not VOLATILE, so PostgreSQL >= 11 adds this default without a rewrite.`,
        ...(INT_TYPES.has(ty) ? [`-- squawk: the type must equal ${commentName(tenant.table, tenant.key)}'s ${commentText(ty)} for the foreign key.`] : []),
        `-- squawk-ignore adding-field-with-default${INT_TYPES.has(ty) ? ', prefer-bigint-over-int' : ''}`,
        `ALTER TABLE ${t} ADD COLUMN IF NOT EXISTS ${ident(c)} ${ty} DEFAULT ${defaultExpr};`,
      );
      out.down.push(
        `-- Drop ${commentName(c)} again. migrate down refuses while it holds values (unless --force, which archives them first).`,
        `-- Lock: ACCESS EXCLUSIVE on ${tn} for an instant.`,
        `-- squawk: undoes this file's own ADD COLUMN; migrate down archives the values first.`,
        `-- squawk-ignore ban-drop-column`,
        `ALTER TABLE ${t} DROP COLUMN IF EXISTS ${ident(c)};`,
      );
      out.dropsColumns.push({ schema, table: step.table, column: c, primaryKey: table?.primaryKey ?? [] });
      break;
    }
    case 'set-default':
      out.up.push(
        `-- Stamp rows the application inserts from now on with the tenant of ${commentText(tenant.setting)}.`,
        `-- Lock: ACCESS EXCLUSIVE on ${tn} for an instant (catalog only).`,
        `ALTER TABLE ${t} ALTER COLUMN ${ident(c)} SET DEFAULT ${defaultExpr};`,
      );
      out.down.push(`-- Lock: ACCESS EXCLUSIVE on ${tn} for an instant.`, `ALTER TABLE ${t} ALTER COLUMN ${ident(c)} DROP DEFAULT;`);
      break;
    case 'add-tenant-fk':
      out.up.push(
        `-- Foreign key to the tenant table, NOT VALID: checks new rows only; validated in the validate phase.`,
        `-- Lock: ACCESS EXCLUSIVE on ${tn} (the DROP … IF EXISTS that makes it repeatable; on ${commentName(schema, tenant.table)} too`,
        `-- when it finds one) and SHARE ROW EXCLUSIVE on ${commentName(schema, tenant.table)}, for an instant (NOT VALID: no scan).`,
        `ALTER TABLE ${t} DROP CONSTRAINT IF EXISTS ${ident(step.name)},\n  ADD CONSTRAINT ${ident(step.name)}\n  FOREIGN KEY (${ident(c)}) REFERENCES ${qualified(schema, tenant.table)} (${ident(tenant.key)}) NOT VALID;`,
      );
      out.down.push(
        `-- Lock: ACCESS EXCLUSIVE on ${tn} and ${commentName(schema, tenant.table)} for an instant.`,
        `ALTER TABLE ${t} DROP CONSTRAINT IF EXISTS ${ident(step.name)};`,
      );
      break;
    case 'drop-invalid-index':
      out.up.push(
        `-- ${commentName(step.index)} on ${commentName(c)} is INVALID (a failed or interrupted concurrent build): drop it; it is rebuilt below.`,
        `-- Lock: SHARE UPDATE EXCLUSIVE on ${tn} (DROP INDEX CONCURRENTLY: reads and writes go on).`,
        `DROP INDEX CONCURRENTLY IF EXISTS ${qualified(schema, step.index)};`,
      );
      break;
    case 'create-index':
      out.up.push(`-- Index on ${commentName(c)}: every tenant-filtered query and the row-level-security policy use it.`, concurrentIndex(schema, step.table, step.name, [c], false));
      out.down.push(
        `-- Lock: SHARE UPDATE EXCLUSIVE on ${tn} (reads and writes go on).`,
        `DROP INDEX CONCURRENTLY IF EXISTS ${qualified(schema, step.name)};`,
      );
      break;
    case 'validate-tenant-fk':
      out.up.push(
        `-- Validate the foreign key to ${commentName(tenant.table)}: one scan; reads and writes go on.`,
        `-- Lock: SHARE UPDATE EXCLUSIVE on ${tn}, ROW SHARE on ${commentName(schema, tenant.table)}.`,
        transaction([`ALTER TABLE ${t} VALIDATE CONSTRAINT ${ident(step.name)};`]),
      );
      out.down.push(`-- (nothing to undo for VALIDATE CONSTRAINT on ${tn})`);
      out.preconditions.push({ kind: 'tenant-exists', schema, table: step.table, column: c, tenantTable: tenant.table, tenantKey: tenant.key });
      break;
    case 'not-null':
      out.up.push(
        `-- ${commentName(c)} NOT NULL, online: CHECK NOT VALID -> VALIDATE -> SET NOT NULL -> DROP CHECK.`,
        `-- Lock: ACCESS EXCLUSIVE on ${tn} for an instant (no scan).`,
        `ALTER TABLE ${t} DROP CONSTRAINT IF EXISTS ${ident(step.checkName)},\n  ADD CONSTRAINT ${ident(step.checkName)} CHECK (${ident(c)} IS NOT NULL) NOT VALID;`,
        `-- Lock: SHARE UPDATE EXCLUSIVE on ${tn} during one scan: reads and writes go on.`,
        transaction([`ALTER TABLE ${t} VALIDATE CONSTRAINT ${ident(step.checkName)};`]),
        `-- Lock: ACCESS EXCLUSIVE on ${tn} for an instant: the valid CHECK proves NOT NULL, no scan (PostgreSQL >= 12).`,
        transaction([
          `ALTER TABLE ${t} ALTER COLUMN ${ident(c)} SET NOT NULL;`,
          `ALTER TABLE ${t} DROP CONSTRAINT IF EXISTS ${ident(step.checkName)};`,
        ]),
      );
      out.down.push(
        `-- Lock: ACCESS EXCLUSIVE on ${tn} for an instant.`,
        `-- squawk: undoes this file's own SET NOT NULL.`,
        transaction([`-- squawk-ignore ban-drop-not-null`, `ALTER TABLE ${t} ALTER COLUMN ${ident(c)} DROP NOT NULL;`]),
      );
      out.preconditions.push({ kind: 'not-null', schema, table: step.table, column: c });
      break;
    case 'unique': {
      // The manifest's `where` is the DBA's SQL: parsed first (exactly one boolean expression), or exit 2.
      const where = step.where !== undefined ? assertWhere(schema, step.table, step.where) : undefined;
      out.up.push(
        step.singleton
          ? `-- Singleton: at most one row per tenant (a unique index on ${commentName(c)} alone).`
          : `-- Unique within a tenant: (${step.columns.map((x) => commentName(x)).join(', ')}).`,
        ...(where !== undefined
          ? [
              `-- Partial: only rows where (${commentText(where)}) must be unique (soft-deleted twins stay allowed).`,
              `-- A unique index only: a partial index cannot back a UNIQUE constraint, and needs none.`,
            ]
          : []),
        concurrentIndex(schema, step.table, step.name, step.columns, true, where),
      );
      out.down.push(
        `-- Lock: SHARE UPDATE EXCLUSIVE on ${tn} (reads and writes go on).`,
        `DROP INDEX CONCURRENTLY IF EXISTS ${qualified(schema, step.name)};`,
      );
      out.preconditions.push({ kind: 'unique', schema, table: step.table, columns: step.columns, ...(where !== undefined ? { where } : {}) });
      break;
    }
    case 'view': {
      const r = renderView(step);
      out.up.push(...r.up);
      out.down.push(...r.down);
      break;
    }
    case 'shared-ref': {
      // Checked before the file runs (same-tenant counts only rows whose parent has another, non-NULL tenant).
      out.preconditions.push({ kind: 'same-tenant', schema, table: step.table, column: step.column, tenantColumn: c, parent: step.parent, parentKey: step.parentKey });
      const r = renderSharedRef(live, step);
      out.up.push(...r.up);
      out.down.push(...r.down);
      break;
    }
    case 'polymorphic': {
      // Checked before the file runs: the trigger's own scan of existing rows would fail mid-file.
      out.preconditions.push({
        kind: 'polymorphic',
        schema,
        table: step.table,
        typeColumn: step.typeColumn,
        idColumn: step.idColumn,
        tenantColumn: c,
      });
      const r = renderPolymorphic(live, step);
      out.up.push(...r.up);
      out.down.push(...r.down);
      break;
    }
    case 'parent-key': {
      const reg = literal(regclassText(schema, step.table));
      out.up.push(
        `-- UNIQUE (${commentName(c)}, ${commentName(step.key)}) so child tables can reference (${commentName(c)}, ${commentName(step.key)}).`,
        concurrentIndex(schema, step.table, step.indexName, [c, step.key], true),
        `-- Turn the index into a constraint (skipped when a previous run did). Lock: ACCESS EXCLUSIVE on ${tn}, an instant.`,
        doBlock(
          `  IF NOT EXISTS (SELECT FROM pg_catalog.pg_constraint WHERE conrelid = to_regclass(${reg}) AND conname = ${literal(step.constraintName)}) THEN\n` +
            `    ALTER TABLE ${t} ADD CONSTRAINT ${ident(step.constraintName)} UNIQUE USING INDEX ${ident(step.indexName)};\n  END IF;`,
        ),
      );
      out.down.push(
        `-- Lock: ACCESS EXCLUSIVE on ${tn} for an instant (drops the constraint and its index).`,
        `ALTER TABLE ${t} DROP CONSTRAINT IF EXISTS ${ident(step.constraintName)};`,
      );
      break;
    }
    case 'composite-fk': {
      const p = qualified(schema, step.parent);
      const pn = commentName(schema, step.parent);
      const old = step.old!;
      const actions = actionClauses(old, step.column, true);
      if (step.exists === 'no') {
        out.up.push(
          `-- ${commentName(step.table, step.column)} -> ${commentName(step.parent)}: a row may only reference a ${commentName(step.parent)} row of its own tenant.`,
          ...(/SET NULL|SET DEFAULT/.test(old.references!.onUpdate)
            ? [`-- note: ON UPDATE ${old.references!.onUpdate} also resets ${commentName(c)} (PostgreSQL takes no column list there).`]
            : []),
          `-- Lock: ACCESS EXCLUSIVE on ${tn} (the DROP … IF EXISTS that makes it repeatable; on ${pn} too when it`,
          `-- finds one) and SHARE ROW EXCLUSIVE on ${pn}${findRelation(live.catalog, schema, step.parent)?.kind === 'partitioned-table' ? ' and each of its partitions' : ''}, for an instant (NOT VALID: no scan).`,
          `ALTER TABLE ${t} DROP CONSTRAINT IF EXISTS ${ident(step.name)},\n  ADD CONSTRAINT ${ident(step.name)}\n  FOREIGN KEY (${ident(c)}, ${ident(step.column)}) REFERENCES ${p} (${ident(c)}, ${ident(step.parentKey)})${actions}${deferrableClause(old)} NOT VALID;`,
        );
      }
      if (step.exists !== 'valid') {
        out.up.push(
          `-- Lock: SHARE UPDATE EXCLUSIVE on ${tn}, ROW SHARE on ${pn}, during one scan: reads and writes go on.`,
          transaction([`ALTER TABLE ${t} VALIDATE CONSTRAINT ${ident(step.name)};`]),
        );
        out.preconditions.push({
          kind: 'same-tenant',
          schema,
          table: step.table,
          column: step.column,
          tenantColumn: c,
          parent: step.parent,
          parentKey: step.parentKey,
        });
      }
      out.up.push(
        `-- The single-column foreign key is now redundant. Lock: ACCESS EXCLUSIVE on ${tn} and ${pn}, an instant.`,
        `ALTER TABLE ${t} DROP CONSTRAINT IF EXISTS ${ident(old.name)};`,
      );
      out.down.push(
        `-- Restore ${commentName(old.name)} (NOT VALID, then validated). Lock: ACCESS EXCLUSIVE on ${tn} (and ${pn} when the DROP finds one),`,
        `-- SHARE ROW EXCLUSIVE on ${pn}, an instant.`,
        `ALTER TABLE ${t} DROP CONSTRAINT IF EXISTS ${ident(old.name)},\n  ADD CONSTRAINT ${ident(old.name)}\n  FOREIGN KEY (${ident(step.column)}) REFERENCES ${p} (${ident(step.parentKey)})${actionClauses(old, step.column, false)}${deferrableClause(old)} NOT VALID;`,
        `-- Lock: SHARE UPDATE EXCLUSIVE on ${tn}, ROW SHARE on ${pn}, during one scan.`,
        transaction([`ALTER TABLE ${t} VALIDATE CONSTRAINT ${ident(old.name)};`]),
        ...(step.exists === 'no'
          ? [`-- Lock: ACCESS EXCLUSIVE on ${tn} and ${pn} for an instant.`, `ALTER TABLE ${t} DROP CONSTRAINT IF EXISTS ${ident(step.name)};`]
          : []),
      );
      break;
    }
  }
  void steps;
  return out;
}

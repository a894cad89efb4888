// Renders plan steps as reviewable node-pg-migrate SQL files, one per phase, each statement with its lock.
import type { LiveContext } from '../config/live-context.js';
import { findRelation, type CatalogConstraint } from '../db/catalog.js';
import { commentJson, commentName, commentText, ident, literal, qualified, regclassText, typeSql } from '../db/quote.js';
import { renderPolymorphic } from './render-polymorphic.js';
import { isPartitioned, renderPartitioned } from './render-partitions.js';
import { concurrentIndex, doBlock, transaction } from './render-sql.js';
import { renderView } from './render-views.js';
import { assertWhere } from './where-clause.js';
import {
  META_PREFIX,
  PHASES,
  type MigrationMeta,
  type MigrationPhase,
  type Precondition,
} from './migration-file.js';
import { STEP_PHASE, stepId, type PlanStep } from './plan.js';

/** The lock_timeout / statement_timeout a generated file sets (migrate rewrites them to its options). */
export const FILE_LOCK_TIMEOUT = '1s';
export const FILE_STATEMENT_TIMEOUT = '30min';

export interface RenderedMigration {
  phase: MigrationPhase;
  /** File name without directory, e.g. `0003_tenancy-validate.sql`. */
  fileName: string;
  text: string;
  meta: MigrationMeta;
  tables: string[];
}

const PHASE_TITLE: Record<MigrationPhase, string> = {
  expand: 'expand: tenant columns (nullable, stamped by a default) and NOT VALID foreign keys to the tenant table',
  index: 'index: tenant-column indexes built CONCURRENTLY (reads and writes go on)',
  validate: 'validate: foreign keys validated, tenant columns NOT NULL, per-tenant unique keys',
  composite: 'composite keys: (tenant, id) keys and composite foreign keys, so cross-tenant references are impossible',
  views: 'views: views over scoped tables read with the caller\'s rights; materialized views closed to the app roles',
};

const PHASE_NOTES: Record<MigrationPhase, string[]> = {
  expand: [
    'Each table changes in one short transaction. ADD COLUMN with a non-volatile default is a catalog-only',
    'change since PostgreSQL 11 (no rewrite, no scan); rows the application inserts from now on are stamped',
    'with the tenant of the session setting. Existing rows stay NULL until `crm-tenancy backfill` fills them.',
  ],
  index: [
    'CREATE INDEX CONCURRENTLY cannot run in a transaction: each statement runs on its own. A failed or',
    'interrupted concurrent build leaves an INVALID index behind; the DO block before each build drops such a',
    'leftover (never a valid index), and the DO block after it fails loudly unless pg_index.indisvalid is true.',
  ],
  validate: [
    'Refused by `crm-tenancy migrate` while NULL tenants, unknown tenants or duplicates remain (it names the',
    'table, the count and the command that fixes it). VALIDATE scans under SHARE UPDATE EXCLUSIVE only; NOT NULL',
    'goes CHECK NOT VALID -> VALIDATE -> SET NOT NULL (no scan: the valid CHECK proves it) -> DROP CHECK.',
  ],
  composite: [
    'Refused by `crm-tenancy migrate` while cross-tenant references remain (`crm-tenancy backfill',
    '--detach-cross-tenant` fixes them). Referenced tables get UNIQUE (tenant, id) from an index built',
    'concurrently; each single-column foreign key between scoped tables is replaced by a composite one added',
    'NOT VALID, then validated, keeping its ON DELETE / ON UPDATE actions.',
  ],
  views: [
    'A view runs with its owner\'s rights unless security_invoker is set: over a scoped table it shows every',
    'tenant. A materialized view stores every tenant\'s rows and row-level security never applies to it. Found',
    'through pg_rewrite/pg_depend (views over views included), for the views an application role can read.',
  ],
};

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

interface Rendered {
  up: string[];
  down: string[];
  preconditions: Precondition[];
  dropsColumns: MigrationMeta['dropsColumns'];
}

function renderStep(live: LiveContext, step: PlanStep, steps: PlanStep[]): Rendered {
  const { schema, tenant } = live.manifest;
  const c = tenant.column;
  const ty = typeSql(live.tenantType);
  const t = qualified(schema, step.table);
  const tn = commentName(schema, step.table);
  const defaultExpr = `nullif(current_setting(${literal(tenant.setting)}, true), '')::${ty}`;
  const out: Rendered = { up: [], down: [], preconditions: [], dropsColumns: [] };
  if (isPartitioned(step)) {
    const where = step.kind === 'unique' && step.where !== undefined ? assertWhere(schema, step.table, step.where) : undefined;
    const r = renderPartitioned(live, step.kind === 'unique' && where !== undefined ? { ...step, where } : step);
    out.up.push(...r.up);
    out.down.push(...r.down);
    if (step.kind === 'validate-tenant-fk') {
      out.preconditions.push({ kind: 'tenant-exists', schema, table: step.table, column: c, tenantTable: tenant.table, tenantKey: tenant.key });
    }
    if (step.kind === 'unique') {
      out.preconditions.push({ kind: 'unique', schema, table: step.table, columns: step.columns, ...(where !== undefined ? { where } : {}) });
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
    case 'polymorphic': {
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
          `-- finds one) and SHARE ROW EXCLUSIVE on ${pn}, for an instant (NOT VALID: no scan).`,
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

/**
 * A file name: the number and the phase (plus the part number when a phase is split in several files).
 * Never a table name: hostile names never reach the disk, and names alone never change the file names.
 */
export function migrationFileName(index: number, phase: MigrationPhase, label = 'tenancy', part?: number): string {
  return `${String(index).padStart(4, '0')}_${label}-${phase}${part !== undefined ? `-${part}` : ''}.sql`;
}

export interface RenderOptions {
  /** The first number to use (one more than the highest in the directory). */
  firstIndex: number;
  /** Shown in the header. */
  generatedAt?: Date;
}

/** The metadata as comment lines, one value per line (a reviewer reads it; the parser joins the lines). */
export function metaLines(meta: MigrationMeta): string[] {
  const entries = Object.entries(meta);
  const lines: string[] = ['{'];
  entries.forEach(([key, value], i) => {
    const end = i === entries.length - 1 ? '' : ',';
    if (Array.isArray(value) && value.length > 0) {
      lines.push(`${commentJson(key)}: [`);
      value.forEach((v, j) => lines.push(`  ${commentJson(v)}${j === value.length - 1 ? '' : ','}`));
      lines.push(`]${end}`);
    } else lines.push(`${commentJson(key)}: ${commentJson(value)}${end}`);
  });
  lines.push('}');
  return lines.map((l) => `${META_PREFIX}${l}`);
}

/** The steps of one file: a whole phase, or (composite) the keys of one parent table and the foreign keys to it. */
interface FileUnit {
  phase: MigrationPhase;
  steps: PlanStep[];
  about?: string;
  /** 1, 2, … when the phase has several files. */
  part?: number;
}

function fileUnits(steps: PlanStep[]): FileUnit[] {
  const units: FileUnit[] = [];
  for (const phase of PHASES) {
    const phaseSteps = steps.filter((s) => STEP_PHASE[s.kind] === phase);
    if (phaseSteps.length === 0) continue;
    if (phase !== 'composite') {
      units.push({ phase, steps: phaseSteps });
      continue;
    }
    // One file per referenced table: its (tenant, id) key first, then every foreign key to it.
    const byParent = new Map<string, PlanStep[]>();
    for (const step of phaseSteps) {
      const parent = step.kind === 'composite-fk' ? step.parent : step.table;
      byParent.set(parent, [...(byParent.get(parent) ?? []), step]);
    }
    let part = 1;
    for (const [parent, group] of byParent) units.push({ phase, steps: group, about: parent, ...(byParent.size > 1 ? { part: part++ } : {}) });
  }
  return units;
}

/** Renders the steps of a plan as migration files: one per phase, the composite phase one per referenced table. */
export function renderMigrations(live: LiveContext, steps: PlanStep[], options: RenderOptions): RenderedMigration[] {
  const { schema } = live.manifest;
  const files: RenderedMigration[] = [];
  let index = options.firstIndex;
  for (const unit of fileUnits(steps)) {
    const { phase } = unit;
    const phaseSteps = unit.steps;
    const meta: MigrationMeta = { phase, provides: [], preconditions: [], dropsColumns: [] };
    const up: string[] = [];
    const down: string[] = [];
    const tables: string[] = [];
    // Steps of one table stay together (in expand, in one transaction); parent keys come first.
    const groups: { table: string; steps: PlanStep[] }[] = [];
    for (const first of [true, false]) {
      for (const s of phaseSteps) {
        if ((s.kind === 'parent-key') !== first) continue;
        const group = groups.find((g) => g.table === s.table && (g.steps[0].kind === 'parent-key') === first);
        if (group) group.steps.push(s);
        else groups.push({ table: s.table, steps: [s] });
      }
    }
    const downBlocks: string[][] = [];
    for (const group of groups) {
      if (!tables.includes(group.table)) tables.push(group.table);
      const rendered = group.steps.map((s) => renderStep(live, s, phaseSteps));
      for (const s of group.steps) meta.provides.push(stepId(s));
      const first = group.steps[0];
      const header = `-- ${'─'.repeat(3)} ${commentName(first.kind === 'view' ? first.schema : schema, group.table)} ${'─'.repeat(3)}`;
      const upLines = rendered.flatMap((r) => r.up);
      const downLines = rendered.slice().reverse().flatMap((r) => r.down);
      if (phase === 'expand') {
        up.push(header, transaction(upLines), '');
        if (downLines.length > 0) downBlocks.push([header, transaction(downLines), '']);
      } else {
        up.push(header, ...upLines, '');
        if (downLines.length > 0) downBlocks.push([header, ...downLines, '']);
      }
      for (const r of rendered) {
        meta.preconditions.push(...r.preconditions);
        meta.dropsColumns.push(...r.dropsColumns);
      }
    }
    for (const block of downBlocks.reverse()) down.push(...block);
    const fileName = migrationFileName(index++, phase, 'tenancy', unit.part);
    const about = unit.about !== undefined ? [`-- This file: the foreign keys to ${commentName(schema, unit.about)}.`] : [];
    const text = [
      `-- crm-tenancy migration, phase ${PHASES.indexOf(phase) + 1} of ${PHASES.length} — ${PHASE_TITLE[phase]}.`,
      ...about,
      `-- Generated by \`crm-tenancy generate\`${options.generatedAt ? ` on ${options.generatedAt.toISOString()}` : ''}`,
      `-- for schema ${commentName(schema)}; review it, commit it, run it with \`crm-tenancy migrate\`.`,
      ...PHASE_NOTES[phase].map((l) => `-- ${l}`),
      `-- migrate runs every statement (or BEGIN … COMMIT block) on its own under lock_timeout, retrying on`,
      `-- lock_timeout with backoff; every statement is idempotent, so an interrupted run can simply be repeated.`,
      ...metaLines(meta),
      '',
      '-- Up Migration',
      `-- migrate rewrites these two to its --lock-timeout / --statement-timeout.`,
      `SET lock_timeout = ${literal(FILE_LOCK_TIMEOUT)};`,
      `SET statement_timeout = ${literal(FILE_STATEMENT_TIMEOUT)};`,
      '',
      ...up,
      '-- Down Migration',
      `SET lock_timeout = ${literal(FILE_LOCK_TIMEOUT)};`,
      `SET statement_timeout = ${literal(FILE_STATEMENT_TIMEOUT)};`,
      '',
      ...(down.length > 0 ? down : ['-- (nothing to undo)', '']),
    ].join('\n');
    files.push({ phase, fileName, text, meta, tables });
  }
  return files;
}

// Renders plan steps as reviewable node-pg-migrate SQL files, one per phase, each statement with its lock.
import type { LiveContext } from '../config/live-context.js';
import { commentJson, commentName, literal } from '../db/quote.js';
import { transaction } from './render-sql.js';
import { renderStep } from './render-steps.js';
import {
  META_PREFIX,
  PHASES,
  type MigrationMeta,
  type MigrationPhase,
} from './migration-file.js';
import { STEP_PHASE, stepId, type PlanStep } from './plan.js';
import type { DistributeStep } from './plan-distribute.js';
import { DISTRIBUTE_NOTES, DISTRIBUTE_TITLE, renderDistribute } from './render-distribute.js';

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
  distribute: DISTRIBUTE_TITLE,
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
  distribute: DISTRIBUTE_NOTES,
};


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
  /** distribution citus: the distribute phase's steps (src/migrate/plan-distribute.ts), rendered last. */
  distribute?: DistributeStep[];
}

/** The metadata as comment lines, one value per line (a reviewer reads it; the parser joins the lines). */
export function metaLines(meta: MigrationMeta): string[] {
  const entries = Object.entries(meta);
  const lines: string[] = ['{'];
  entries.forEach(([key, value], i) => {
    const end = i === entries.length - 1 ? '' : ',';
    if (Array.isArray(value) && value.length > 0) {
      lines.push(`${commentJson(key)}: [`);
      for (const [j, v] of value.entries()) lines.push(`  ${commentJson(v)}${j === value.length - 1 ? '' : ','}`);
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
    const text = fileText(phase, about, meta, up, down, schema, options);
    files.push({ phase, fileName, text, meta, tables });
  }
  if (options.distribute && options.distribute.length > 0) {
    const r = renderDistribute(live, options.distribute);
    const fileName = migrationFileName(index++, 'distribute');
    files.push({ phase: 'distribute', fileName, text: fileText('distribute', [], r.meta, r.up, r.down, schema, options), meta: r.meta, tables: r.tables });
  }
  return files;
}

/** One file's text: the header (title, notes, metadata), the up section and the down section. */
function fileText(phase: MigrationPhase, about: string[], meta: MigrationMeta, up: string[], down: string[], schema: string, options: RenderOptions): string {
  return [
    // The distribute phase counts only with distribution citus: other files keep their text.
    `-- crm-tenancy migration, phase ${PHASES.indexOf(phase) + 1} of ${options.distribute ? PHASES.length : PHASES.length - 1} — ${PHASE_TITLE[phase]}.`,
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
}

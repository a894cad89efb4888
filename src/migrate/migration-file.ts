// The migration file format: reviewable SQL with `-- Up Migration` / `-- Down Migration` sections,
// a one-line JSON header for crm-tenancy, and a lexer that splits it into executable units.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { TenancyError } from '../errors.js';

export type MigrationPhase = 'expand' | 'index' | 'validate' | 'composite' | 'views' | 'distribute';

/** `distribute` only with distribution: citus (src/migrate/plan-distribute.ts). */
export const PHASES: readonly MigrationPhase[] = ['expand', 'index', 'validate', 'composite', 'views', 'distribute'];

/** A data condition the validate/composite phase needs before it may run. */
export type Precondition =
  | { kind: 'not-null'; schema: string; table: string; column: string }
  | { kind: 'tenant-exists'; schema: string; table: string; column: string; tenantTable: string; tenantKey: string }
  /** `where`: a partial key's predicate (only rows it selects must be unique). */
  | { kind: 'unique'; schema: string; table: string; columns: string[]; where?: string }
  /** A polymorphic pair: every row's target (chosen by its type, the manifest's targets) exists with the row's tenant. */
  | { kind: 'polymorphic'; schema: string; table: string; typeColumn: string; idColumn: string; tenantColumn: string }
  | {
      kind: 'same-tenant';
      schema: string;
      table: string;
      column: string;
      tenantColumn: string;
      parent: string;
      parentKey: string;
    };

/** Machine-readable header of a generated file: JSON in comment lines that start with META_PREFIX (concatenated). */
export interface MigrationMeta {
  phase: MigrationPhase;
  /** Step ids this file provides (generate skips them while the file is pending). */
  provides: string[];
  /** Checked before the file runs (up). */
  preconditions: Precondition[];
  /** Tenant columns the down section drops: migrate down archives their values first. */
  dropsColumns: { schema: string; table: string; column: string; primaryKey: string[] }[];
}

export const META_PREFIX = '-- crm-tenancy-meta: ';

/** One thing the runner executes: a single statement, or a BEGIN … COMMIT block run as one query. */
export interface ExecUnit {
  sql: string;
  transaction: boolean;
}

export interface MigrationFile {
  /** node-pg-migrate's name: the file name without `.sql`. */
  name: string;
  path: string;
  meta: MigrationMeta | null;
  up: ExecUnit[];
  down: ExecUnit[];
}

/**
 * Splits SQL text into statements at top-level semicolons, honouring quotes, quoted identifiers,
 * dollar quotes and comments. Returns each statement without leading comments, trimmed.
 */
export function splitStatements(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const ch = text[i];
    const next = text[i + 1];
    if (ch === '-' && next === '-') {
      const end = text.indexOf('\n', i);
      i = end < 0 ? n : end + 1;
    } else if (ch === '/' && next === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (text[i] === '/' && text[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (text[i] === '*' && text[i + 1] === '/') {
          depth--;
          i += 2;
        } else i++;
      }
    } else if (ch === "'" || ch === '"') {
      const escapes = ch === "'" && /[eE]/.test(text[i - 1] ?? '') && !/[\w$]/.test(text[i - 2] ?? '');
      i++;
      while (i < n) {
        if (escapes && text[i] === '\\') i += 2;
        else if (text[i] === ch && text[i + 1] === ch) i += 2;
        else if (text[i] === ch) {
          i++;
          break;
        } else i++;
      }
    } else if (ch === '$' && !/[\w$]/.test(text[i - 1] ?? '')) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i));
      if (tag) {
        const close = text.indexOf(tag[0], i + tag[0].length);
        i = close < 0 ? n : close + tag[0].length;
      } else i++;
    } else if (ch === ';') {
      out.push(text.slice(start, i + 1));
      i++;
      start = i;
    } else i++;
  }
  out.push(text.slice(start));
  return out.map(stripLeadingComments).filter((s) => s.length > 0);
}

function stripLeadingComments(statement: string): string {
  let s = statement;
  for (;;) {
    s = s.trimStart();
    if (s.startsWith('--')) {
      const end = s.indexOf('\n');
      s = end < 0 ? '' : s.slice(end + 1);
    } else if (s.startsWith('/*')) {
      const end = s.indexOf('*/');
      s = end < 0 ? '' : s.slice(end + 2);
    } else break;
  }
  s = s.trim();
  return s === ';' ? '' : s;
}

/** Groups statements into units: BEGIN … COMMIT blocks become one unit, others stand alone. */
export function groupUnits(statements: string[]): ExecUnit[] {
  const units: ExecUnit[] = [];
  let block: string[] | null = null;
  for (const statement of statements) {
    const word = statement.replace(/;$/, '').trim().toUpperCase();
    if (block === null && (word === 'BEGIN' || word === 'START TRANSACTION')) {
      block = [statement];
    } else if (block !== null) {
      block.push(statement);
      if (word === 'COMMIT' || word === 'END') {
        units.push({ sql: block.join('\n'), transaction: true });
        block = null;
      }
    } else units.push({ sql: statement, transaction: false });
  }
  if (block) throw new Error('a BEGIN has no matching COMMIT');
  return units;
}

const UP_RE = /^\s*--[\s-]*up\s+migration/im;
const DOWN_RE = /^\s*--[\s-]*down\s+migration/im;

/** Parses a migration file's text. */
export function parseMigrationText(text: string, name: string, file = name): MigrationFile {
  const upAt = text.search(UP_RE);
  const downAt = text.search(DOWN_RE);
  const upText = upAt >= 0 ? text.slice(upAt, downAt > upAt ? downAt : undefined) : downAt >= 0 ? text.slice(0, downAt) : text;
  const downText = downAt >= 0 ? text.slice(downAt, upAt > downAt ? upAt : undefined) : '';
  let meta: MigrationMeta | null = null;
  // One line, or (readable) one value per line: the lines' remainders, joined, are the JSON.
  const metaLines = text.split('\n').filter((l) => l.startsWith(META_PREFIX));
  if (metaLines.length > 0) {
    try {
      meta = JSON.parse(metaLines.map((l) => l.slice(META_PREFIX.length)).join('')) as MigrationMeta;
    } catch (error) {
      throw new TenancyError('io', `${file}: its crm-tenancy-meta line is not valid JSON`, { cause: error });
    }
  }
  try {
    return { name, path: file, meta, up: groupUnits(splitStatements(upText)), down: groupUnits(splitStatements(downText)) };
  } catch (error) {
    throw new TenancyError('io', `${file}: ${(error as Error).message}`, { cause: error });
  }
}

/** Reads every `*.sql` migration of a directory, in node-pg-migrate's order. A missing directory has none. */
export async function readMigrationDir(dir: string): Promise<MigrationFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new TenancyError('io', `cannot read the migrations directory ${dir}`, { cause: error });
  }
  const files = names.filter((f) => f.endsWith('.sql') && !f.startsWith('.')).sort(compareNames);
  return Promise.all(
    files.map(async (f) => {
      const full = path.resolve(dir, f);
      return parseMigrationText(await readFile(full, 'utf8'), f.slice(0, -4), full);
    }),
  );
}

/**
 * The migrations `migrate` runs. A directory that does not exist, or holds no `*.sql` file, is a
 * usage error (exit 2): a wrong --migrations-dir must not read as "every migration has run".
 */
export async function readMigrationsToRun(dir: string): Promise<MigrationFile[]> {
  const info = await stat(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return null;
    throw new TenancyError('io', `cannot read the migrations directory ${dir}`, { cause: error });
  });
  if (!info?.isDirectory()) {
    throw new TenancyError('usage', `the migrations directory ${dir} does not exist`, {
      hint: 'run `crm-tenancy generate` first, or pass the --migrations-dir that holds the migration files',
    });
  }
  const files = await readMigrationDir(dir);
  if (files.length === 0) {
    throw new TenancyError('usage', `no migration files (*.sql) in ${dir}`, {
      hint: 'run `crm-tenancy generate` first, or pass the --migrations-dir that holds the migration files',
    });
  }
  return files;
}

/** Numeric prefix first (as node-pg-migrate sorts), then the name. */
export function compareNames(a: string, b: string): number {
  const na = Number(/^\d+/.exec(a)?.[0] ?? NaN);
  const nb = Number(/^\d+/.exec(b)?.[0] ?? NaN);
  if (na !== nb && !Number.isNaN(na) && !Number.isNaN(nb)) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}

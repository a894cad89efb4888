// The tenancy manifest (tenancy.yaml): schema, loading, and validation that reports every problem at once.
import { readFile } from 'node:fs/promises';
import { isScalar, LineCounter, parseDocument, visit, type Document } from 'yaml';
import { z } from 'zod';
import { TenancyError } from '../errors.js';
import { escapeText, hasUnsafeCharacters, identifierProblem, unsafeNameProblem } from '../db/quote.js';

export const DEFAULT_MANIFEST_FILE = 'tenancy.yaml';
export const DEFAULT_STATE_SCHEMA = 'crm_tenancy';

// Every name the manifest declares ends up in SQL, comments and printed commands: besides what
// PostgreSQL refuses, names with control characters or line separators are refused here.
const identifier = z.string().superRefine((value, ctx) => {
  const problem = identifierProblem(value) ?? unsafeNameProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: `identifier ${problem}` });
});
// `TO "public"` is PUBLIC (every role) even quoted, and "none" is refused by PostgreSQL.
const RESERVED_ROLES = new Set(['public', 'none']);
const roleName = identifier.refine((value) => !RESERVED_ROLES.has(value), {
  message: 'is a reserved role name (PUBLIC means every role); name a real role',
});
const reason = z
  .string({ error: 'needs a reason (a non-empty string)' })
  .refine((v) => v.trim().length > 0 && !/^TODO\b/i.test(v.trim()), {
    message: 'needs a reason (a non-empty string, not TODO)',
  });

const keyColumns = z.array(identifier).min(1, 'a unique key needs at least one column');
// A per-tenant unique key: `[code]`, or `{columns: [code], where: "deleted_at IS NULL", same: [customer_id]}`.
// `where` is the DBA's own SQL (a boolean expression over the table, like a partial index's), checked
// before use; it may not hold control characters other than line breaks and tabs.
const uniqueKeySchema = z.union([
  keyColumns,
  z.strictObject({
    columns: keyColumns,
    where: z
      .string()
      .refine((v) => v.trim().length > 0, 'must be a boolean expression, e.g. deleted_at IS NULL')
      .refine((v) => !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u2028\u2029]/.test(v), 'holds a control character')
      .optional(),
    same: z.array(identifier).optional(),
  }),
]);
// A polymorphic reference: `{type: payable_type, id: payable_id, targets: {Invoice: invoices}}`.
const polymorphicSchema = z.strictObject({
  type: identifier,
  id: identifier,
  targets: z
    .record(
      z.string().min(1, 'a type value cannot be empty').refine((v) => !/[\u0000-\u001f\u007f\u2028\u2029]/.test(v), 'holds a control character'),
      identifier,
    )
    .refine((t) => Object.keys(t).length > 0, 'list at least one type value and its table'),
});

const scopedTableSchema = z
  .strictObject({
    backfill: z.array(identifier).min(1, 'list at least one foreign-key column, or leave backfill out').optional(),
    unique: z.array(uniqueKeySchema).optional(),
    singleton: z.boolean().optional(),
    shared_rows: z.boolean().optional(),
    polymorphic: z.array(polymorphicSchema).min(1, 'list at least one pair, or leave polymorphic out').optional(),
  })
  .nullable();

const manifestSchema = z.strictObject({
  schema: identifier.optional(),
  state_schema: identifier.optional(),
  tenant: z.strictObject({
    table: identifier,
    key: identifier,
    column: identifier,
    setting: z
      .string()
      .regex(
        /^[A-Za-z_][A-Za-z0-9_$]*\.[A-Za-z_][A-Za-z0-9_$.]*$/,
        'must be a custom setting name with a dot, e.g. app.current_company_id',
      ),
    composite_keys: z.boolean().optional(),
    partition_trigger: z.boolean().optional(),
    // distribution: citus — the tenant table as a Citus reference table instead of distributed by its key.
    reference: z.boolean().optional(),
  }),
  roles: z.strictObject({
    app: z.array(roleName).min(1, 'list at least one application role'),
    bypass: z.record(roleName, reason).nullable().optional(),
  }),
  tables: z.record(identifier, scopedTableSchema),
  // An exempt table: its reason, or `{reason, reference: true}` (distribution: citus: a reference table on every node).
  exempt: z.record(identifier, z.union([reason, z.strictObject({ reason, reference: z.boolean().optional() })])).nullable().optional(),
  definer_functions: z.record(identifier, reason).nullable().optional(),
  /** `citus`: the schema is distributed by the tenant column (audit --target citus, generate's distribute phase). */
  distribution: z.enum(['citus']).optional(),
});

export type RawManifest = z.infer<typeof manifestSchema>;

/** A key unique within a tenant (the tenant column is implied). */
export interface UniqueKey {
  columns: string[];
  /**
   * A partial key's predicate (e.g. `deleted_at IS NULL`): only the rows it selects must be unique,
   * as in `CREATE UNIQUE INDEX … WHERE <where>`. Trusted SQL from the manifest, used in parentheses.
   */
  where?: string;
  /** Columns (besides foreign keys) that must be equal for duplicates to be the same entity. */
  same: string[];
}

/** A `*_type`/`*_id` pair pointing at one of several tables, chosen by the type column's value. */
export interface PolymorphicReference {
  typeColumn: string;
  idColumn: string;
  /** Type value → target table (in the manifest's schema), in manifest order. */
  targets: { type: string; table: string }[];
}

export interface ScopedTable {
  name: string;
  /** FK columns, in order, from which the tenant can be derived. */
  backfill: string[];
  /** Keys unique within a tenant. */
  unique: UniqueKey[];
  /** At most one row per tenant. */
  singleton: boolean;
  /**
   * A NULL tenant means a row shared by every tenant: readable by all, writable by none (predefined
   * roles, default templates). The column stays nullable; NULLs are not defects.
   */
  sharedRows: boolean;
  /** Polymorphic references from this table (its tenant can also be derived through them). */
  polymorphic: PolymorphicReference[];
}

export interface Manifest {
  /** The file it was read from, when it came from a file. */
  file?: string;
  schema: string;
  /** Where the toolkit keeps its own state; never audited, never touched by other commands. */
  stateSchema: string;
  tenant: {
    table: string;
    key: string;
    column: string;
    setting: string;
    /** Replace single-column FKs between scoped tables with (tenant, id) composite FKs. */
    compositeKeys: boolean;
    /** `policies apply` installs the event trigger that secures new partitions of scoped tables (default true). */
    partitionTrigger: boolean;
    /** distribution citus: the tenant table becomes a reference table (default: distributed by its key). */
    reference?: boolean;
  };
  roles: {
    app: string[];
    bypass: { role: string; reason: string }[];
  };
  tables: ScopedTable[];
  /** `reference`: with distribution citus, a reference table (copied to every node). */
  exempt: { name: string; reason: string; reference?: boolean }[];
  /** `citus`: tables are distributed by the tenant column with Citus (see docs/citus.md). */
  distribution?: 'citus';
  /** SECURITY DEFINER functions the app may call on purpose (e.g. login lookup), with a reason. */
  definerFunctions: { name: string; reason: string }[];
}

/** A manifest key as problems show it: as written, or quoted with escapes when it holds a control character. */
function keyText(key: string): string {
  return hasUnsafeCharacters(key) ? `"${escapeText(key).replace(/"/g, '\\"')}"` : key;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${keyText(String(part))}` : keyText(String(part));
  }
  return out || '(root)';
}

/** Problems found in a parsed manifest, each prefixed with its path. Empty when valid. */
export function manifestProblems(input: unknown): string[] {
  const problems: string[] = [];
  const parsed = manifestSchema.safeParse(input, { reportInput: true });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          problems.push(`${formatPath([...issue.path, key])}: unknown key`);
        }
      } else if (issue.code === 'invalid_key') {
        const inner = issue.issues[0];
        problems.push(`${formatPath(issue.path)}: ${inner?.message ?? issue.message}`);
      } else if (issue.code === 'invalid_union' && issue.errors.length === 2) {
        // `exempt.<table>`: a reason, or {reason, reference}: the problems of the form that was written.
        const branch = isRecord(issue.input) ? issue.errors[1] : issue.errors[0];
        for (const inner of branch) {
          if (inner.code === 'unrecognized_keys') for (const key of inner.keys) problems.push(`${formatPath([...issue.path, ...inner.path, key])}: unknown key`);
          else problems.push(`${formatPath([...issue.path, ...inner.path])}: ${inner.message}`);
        }
      } else if (issue.code === 'invalid_type' && issue.input === undefined) {
        problems.push(`${formatPath(issue.path)}: is required`);
      } else {
        problems.push(`${formatPath(issue.path)}: ${issue.message}`);
      }
    }
  }
  // Cross-field rules are checked even when the shape has problems, so every problem shows at once.
  const raw = (input ?? {}) as Partial<Record<string, unknown>>;
  const tables = isRecord(raw.tables) ? raw.tables : {};
  const exempt = isRecord(raw.exempt) ? raw.exempt : {};
  const tenant = isRecord(raw.tenant) ? raw.tenant : {};
  for (const name of Object.keys(tables)) {
    if (Object.hasOwn(exempt, name)) problems.push(`${formatPath(['tables', name])}: listed both as scoped and under exempt`);
  }
  if (typeof tenant.table === 'string') {
    if (Object.hasOwn(tables, tenant.table)) {
      problems.push(`${formatPath(['tables', tenant.table])}: the tenant table itself cannot be a scoped table`);
    }
    if (Object.hasOwn(exempt, tenant.table)) {
      problems.push(`${formatPath(['exempt', tenant.table])}: the tenant table itself cannot be exempt`);
    }
  }
  if (isRecord(raw.tables) && Object.keys(raw.tables).length === 0) {
    problems.push('tables: no scoped tables; list at least one (an empty manifest would give a false all-clear)');
  }
  for (const [name, table] of Object.entries(tables)) {
    if (!isRecord(table)) continue;
    if (table.singleton === true && Array.isArray(table.unique) && table.unique.length > 0) {
      // Not an error: both are enforced. Only a self-contradiction would be.
    }
    if (Array.isArray(table.unique)) {
      table.unique.forEach((key, i) => {
        const cols = Array.isArray(key) ? key : isRecord(key) && Array.isArray(key.columns) ? key.columns : undefined;
        if (cols && new Set(cols).size !== cols.length) {
          problems.push(`${formatPath(['tables', name, 'unique', i])}: lists a column twice`);
        }
      });
    }
    if (table.shared_rows === true && table.singleton === true) {
      problems.push(`${formatPath(['tables', name])}: shared_rows and singleton contradict each other (shared rows have no tenant to be single in)`);
    }
  }
  const roles = isRecord(raw.roles) ? raw.roles : {};
  if (Array.isArray(roles.app) && isRecord(roles.bypass)) {
    for (const role of roles.app) {
      if (typeof role === 'string' && Object.hasOwn(roles.bypass, role)) {
        problems.push(`${formatPath(['roles', 'bypass', role])}: an application role cannot also be a bypass role`);
      }
    }
  }
  return problems;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Validates and normalises a parsed manifest; throws a `manifest` error listing every problem. */
export function parseManifest(input: unknown, file?: string): Manifest {
  const problems = manifestProblems(input);
  const where = file ?? 'manifest';
  if (problems.length > 0) {
    throw new TenancyError('manifest', `${where}: ${problems.length} problem${problems.length === 1 ? '' : 's'}`, {
      problems,
      hint: 'fix the manifest; see "The manifest" in the README',
    });
  }
  const raw = manifestSchema.parse(input);
  return {
    ...(file ? { file } : {}),
    schema: raw.schema ?? 'public',
    stateSchema: raw.state_schema ?? DEFAULT_STATE_SCHEMA,
    tenant: {
      table: raw.tenant.table,
      key: raw.tenant.key,
      column: raw.tenant.column,
      setting: raw.tenant.setting,
      compositeKeys: raw.tenant.composite_keys ?? false,
      partitionTrigger: raw.tenant.partition_trigger ?? true,
      ...(raw.tenant.reference !== undefined ? { reference: raw.tenant.reference } : {}),
    },
    roles: {
      app: [...raw.roles.app],
      bypass: Object.entries(raw.roles.bypass ?? {}).map(([role, why]) => ({ role, reason: why })),
    },
    tables: Object.entries(raw.tables).map(([name, t]) => ({
      name,
      backfill: t?.backfill ?? [],
      unique: (t?.unique ?? []).map((key) =>
        Array.isArray(key)
          ? { columns: [...key], same: [] }
          : { columns: [...key.columns], ...(key.where !== undefined ? { where: key.where } : {}), same: [...(key.same ?? [])] },
      ),
      singleton: t?.singleton ?? false,
      sharedRows: t?.shared_rows ?? false,
      polymorphic: (t?.polymorphic ?? []).map((p) => ({
        typeColumn: p.type,
        idColumn: p.id,
        targets: Object.entries(p.targets).map(([type, table]) => ({ type, table })),
      })),
    })),
    exempt: Object.entries(raw.exempt ?? {}).map(([name, why]) =>
      typeof why === 'string' ? { name, reason: why } : { name, reason: why.reason, ...(why.reference ? { reference: true } : {}) },
    ),
    ...(raw.distribution ? { distribution: raw.distribution } : {}),
    definerFunctions: Object.entries(raw.definer_functions ?? {}).map(([name, why]) => ({ name, reason: why })),
  };
}

/**
 * Duplicate keys, as the yaml library's `uniqueKeys` reports them (scalar keys with equal values;
 * other keys are equal only to themselves), found with one set per map: linear in the number of keys.
 */
export function duplicateKeyProblems(doc: Document, lineCounter: LineCounter): string[] {
  const found: { offset: number; text: string }[] = [];
  visit(doc, {
    Map(_, map) {
      const seen = new Set<unknown>();
      for (const { key } of map.items) {
        if (!isScalar(key)) continue;
        if (!seen.has(key.value)) {
          seen.add(key.value);
          continue;
        }
        const offset = key.range?.[0] ?? -1;
        const pos = offset >= 0 ? lineCounter.linePos(offset) : undefined;
        const where = pos ? `line ${pos.line}, column ${pos.col}: ` : '';
        found.push({ offset, text: `${where}Map keys must be unique (${keyText(String(key.value))} appears twice)` });
      }
    },
  });
  return found.sort((a, b) => a.offset - b.offset).map((f) => f.text);
}

/**
 * Parses manifest YAML text; YAML syntax errors and duplicate keys are reported with line and column.
 * Linear in the size of the file: the yaml library's own duplicate-key check (`uniqueKeys`) compares
 * each key with every earlier key of its map (quadratic: 40k keys took 25 s, issue #12.23), so it is
 * off and duplicateKeyProblems does the same check with one set per map.
 */
export function parseManifestText(text: string, file?: string): Manifest {
  const lineCounter = new LineCounter();
  // prettyErrors is off too: it copies the whole source line into each message (a one-line flow map
  // of megabytes, times every error); the position is looked up in the line counter instead.
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: false, lineCounter });
  const where = file ?? 'manifest';
  const problems = doc.errors.map((e) => {
    const pos = lineCounter.linePos(e.pos[0]);
    return `line ${pos.line}, column ${pos.col}: ${escapeText(e.message.split('\n')[0])}`;
  });
  problems.push(...duplicateKeyProblems(doc, lineCounter));
  if (problems.length > 0) throw new TenancyError('manifest', `${where}: not valid YAML`, { problems });
  return parseManifest(doc.toJS(), file);
}

/** Reads and validates a manifest file. A missing file is a `manifest` error (exit 2). */
export async function loadManifest(file: string = DEFAULT_MANIFEST_FILE): Promise<Manifest> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new TenancyError(
      'manifest',
      code === 'ENOENT' ? `manifest ${file} not found` : `cannot read manifest ${file} (${code ?? 'error'})`,
      {
        cause: error,
        hint:
          code === 'ENOENT'
            ? 'pass --config FILE, or draft one from the live database with `crm-tenancy init`'
            : undefined,
      },
    );
  }
  return parseManifestText(text, file);
}

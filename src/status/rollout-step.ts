// Which rollout step a table is at, and the one command that moves it on: pure decisions over catalog facts.

/**
 * The rollout steps, in playbook order. A table "is at" the first step it has not completed:
 * - `missing-table`: the manifest names a table the database does not have;
 * - `column`: the expand and index phases (tenant column, its FK — NOT VALID is fine — and its index);
 * - `backfill`: NULL tenants remain;
 * - `validate`: the tenant FK VALIDATEd, NOT NULL, the manifest's per-tenant unique keys;
 * - `composite`: (tenant, id) keys and composite FKs between scoped tables (when `composite_keys`);
 * - `rls`: row-level security enabled and forced;
 * - `policy`: the policy file applied as it is now, and the live policies as that apply left them;
 * - `done`.
 */
export const ROLLOUT_STEPS = ['missing-table', 'column', 'backfill', 'validate', 'composite', 'rls', 'policy', 'done'] as const;
export type RolloutStep = (typeof ROLLOUT_STEPS)[number];

/** What status read about one table (null: not applicable, or not read at this step). */
export interface TableFacts {
  table: string;
  /** `tenant`: the tenant table itself, which only goes through `rls` and `policy`. */
  kind: 'scoped' | 'tenant';
  exists: boolean;
  /** The tenant-column facts below are null for the tenant table (not applicable). */
  column: boolean | null;
  /** The single-column FK from the tenant column to the tenant table (validated or not). */
  fk: boolean | null;
  index: boolean | null;
  /** Rows with a NULL tenant (0 when the column is NOT NULL); null when not counted (no column or no index yet). */
  nullTenants: number | null;
  fkValidated: boolean | null;
  notNull: boolean | null;
  /** The manifest's per-tenant unique keys present; null when it declares none. */
  uniqueKeys: boolean | null;
  /** Composite keys in place; null when not asked for (`composite_keys: false`) or not needed by this table. */
  compositeKeys: boolean | null;
  rlsEnabled: boolean;
  rlsForced: boolean;
  /** A policy file exists for the table. */
  policyFile: boolean;
  /** The file changed since `policies apply` recorded it, or was never applied. */
  policyPending: boolean;
  /** The live RLS flags / policies differ from what the last apply left. */
  policyDrifted: boolean;
  /** Whether the manifest lists backfill FK columns for the table. */
  backfillSources: boolean;
}

/** What a pending migration file provides for a table (generate's step ids), by phase. */
export interface PendingWork {
  expand: boolean;
  validate: boolean;
  composite: boolean;
}

export interface Placement {
  step: RolloutStep;
  /** What is missing at that step, in words. */
  detail: string;
  /** The command to run next for this table; null when done (or nothing the toolkit can do). */
  next: string | null;
}

export interface CommandSettings {
  /** Manifest path, when not the default (added as --config to every command). */
  config?: string;
  /** Migrations directory, when not the default. */
  migrationsDir?: string;
  /** Policies directory, when not the default. */
  policiesDir?: string;
}

/** Quotes one shell word when it needs it (table names may hold anything). */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** `crm-tenancy <verb> [args]`, with the settings' non-default paths. */
export function command(verb: 'generate' | 'migrate' | 'backfill' | 'policies apply', args: string[], settings: CommandSettings): string {
  const words = ['crm-tenancy', verb, ...args];
  if ((verb === 'generate' || verb === 'migrate') && settings.migrationsDir) words.push('--migrations-dir', settings.migrationsDir);
  if ((verb === 'generate' || verb === 'policies apply') && settings.policiesDir) words.push('--policies-dir', settings.policiesDir);
  if (settings.config) words.push('--config', settings.config);
  return words.map((w, i) => (i < 2 ? w : shellWord(w))).join(' ');
}

/**
 * Places one table on the rollout from its facts. A schema step that a pending migration file
 * already provides is `crm-tenancy migrate`; one that no file provides needs `crm-tenancy generate` first.
 */
export function placeTable(f: TableFacts, pending: PendingWork, column: string, settings: CommandSettings = {}): Placement {
  const migrateOrGenerate = (provided: boolean) => (provided ? command('migrate', [], settings) : command('generate', [], settings));
  if (!f.exists) {
    return { step: 'missing-table', detail: `the table does not exist: create it, or remove it from the manifest`, next: null };
  }
  if (f.kind === 'scoped') {
    if (!f.column || !f.fk || !f.index) {
      const missing = [!f.column && `no ${column} column`, !f.fk && 'no tenant foreign key', !f.index && `no index on ${column}`].filter(Boolean);
      return { step: 'column', detail: `${missing.join(', ')}${pending.expand ? '' : ' (no pending migration adds it)'}`, next: migrateOrGenerate(pending.expand) };
    }
    if (f.nullTenants !== null && f.nullTenants > 0) {
      return {
        step: 'backfill',
        detail: `${f.nullTenants} row(s) with NULL ${column}${
          f.backfillSources ? '' : ' (the manifest lists no backfill column for it: the rows will be orphans; see --assign-orphans-to)'
        }`,
        next: command('backfill', ['--table', f.table], settings),
      };
    }
    if (!f.fkValidated || !f.notNull || f.uniqueKeys === false) {
      const missing = [
        !f.fkValidated && 'tenant foreign key NOT VALID',
        !f.notNull && `${column} nullable`,
        f.uniqueKeys === false && 'per-tenant unique keys missing',
      ].filter(Boolean);
      return { step: 'validate', detail: missing.join(', '), next: migrateOrGenerate(pending.validate) };
    }
    if (f.compositeKeys === false) {
      return { step: 'composite', detail: `(${column}, id) keys or composite foreign keys missing`, next: migrateOrGenerate(pending.composite) };
    }
  }
  if (!f.rlsEnabled || !f.rlsForced) {
    const what = !f.rlsEnabled ? 'row-level security disabled' : 'row-level security not forced (the owner bypasses it)';
    if (!f.policyFile) return { step: 'rls', detail: `${what}; no policy file`, next: command('generate', [], settings) };
    return { step: 'rls', detail: what, next: command('policies apply', [], settings) };
  }
  if (!f.policyFile) return { step: 'policy', detail: 'no policy file', next: command('generate', [], settings) };
  if (f.policyDrifted) {
    return { step: 'policy', detail: 'policy drifted: the live policies differ from what the last apply left', next: command('policies apply', [], settings) };
  }
  if (f.policyPending) {
    return { step: 'policy', detail: 'policy file changed since it was applied (or never applied)', next: command('policies apply', [], settings) };
  }
  return { step: 'done', detail: '', next: null };
}

/**
 * The one command for the whole database: the earliest step any table is at decides it; several
 * tables needing a backfill get one `crm-tenancy backfill` (it orders them parents first).
 */
export function databaseNext(tables: readonly (Placement & { table: string })[], settings: CommandSettings = {}): string | null {
  for (const step of ROLLOUT_STEPS) {
    const at = tables.filter((t) => t.step === step && t.next !== null);
    if (at.length === 0) continue;
    if (step === 'backfill' && at.length > 1) return command('backfill', [], settings);
    // generate writes every missing file at once; migrate then runs them.
    return (at.find((t) => t.next!.startsWith('crm-tenancy generate')) ?? at[0]).next;
  }
  return null;
}

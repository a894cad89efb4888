// Reads a table's live row-level-security state (pg_catalog, pg_get_expr) and compares two snapshots.
import { splitStatements } from '../migrate/migration-file.js';
import type pg from 'pg';
import type { Queryable } from '../db/connection.js';
import { ident, qualified } from '../db/quote.js';

export interface LivePolicy {
  name: string;
  /** ALL, SELECT, INSERT, UPDATE, DELETE. */
  command: string;
  permissive: boolean;
  roles: string[];
  using: string | null;
  withCheck: string | null;
}

/** What `policies apply` records after applying and `policies status` compares against: RLS flags and policies. */
export interface PolicyFingerprint {
  exists: boolean;
  rlsEnabled: boolean;
  rlsForced: boolean;
  policies: LivePolicy[];
}

/** A fuller snapshot for `policies diff`: the fingerprint plus privileges and functions. */
export interface PolicySnapshot extends PolicyFingerprint {
  /** role → sorted privileges (SELECT, INSERT, UPDATE, DELETE) it holds on the table. */
  privileges: Record<string, string[]>;
  /** signature → md5 of pg_get_functiondef + ACL, for the functions of the table's schema. */
  functions: Record<string, string>;
}

const FINGERPRINT_SQL = `
SELECT c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
       COALESCE((SELECT jsonb_agg(jsonb_build_object(
                   'name', p.polname,
                   'command', CASE p.polcmd WHEN '*' THEN 'ALL' WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT'
                                            WHEN 'w' THEN 'UPDATE' ELSE 'DELETE' END,
                   'permissive', p.polpermissive,
                   'roles', ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_catalog.pg_get_userbyid(r)::text END
                                    FROM unnest(p.polroles) r ORDER BY 1),
                   'using', pg_catalog.pg_get_expr(p.polqual, p.polrelid),
                   'withCheck', pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)) ORDER BY p.polname)
                   FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid), '[]'::jsonb) AS policies
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = $1 AND c.relname = $2`;

/** RLS flags and policies of one table, normalised by pg_get_expr and sorted by name. */
export async function readFingerprint(db: Queryable, schema: string, table: string): Promise<PolicyFingerprint> {
  const { rows } = await db.query(FINGERPRINT_SQL, [schema, table]);
  if (rows.length === 0) return { exists: false, rlsEnabled: false, rlsForced: false, policies: [] };
  return { exists: true, rlsEnabled: rows[0].rls, rlsForced: rows[0].forced, policies: rows[0].policies };
}

/** The fingerprint plus the table privileges of `roles` and the functions of the schema. */
export async function readSnapshot(db: Queryable, schema: string, table: string, roles: string[]): Promise<PolicySnapshot> {
  const fingerprint = await readFingerprint(db, schema, table);
  const privileges: Record<string, string[]> = {};
  if (fingerprint.exists) {
    const { rows } = await db.query<{ role: string; privs: string[] }>(
      `SELECT r.rolname AS role,
              ARRAY(SELECT p FROM unnest(ARRAY['SELECT','INSERT','UPDATE','DELETE']) p
                     WHERE pg_catalog.has_table_privilege(r.oid, c.oid, p) ORDER BY 1) AS privs
         FROM pg_catalog.pg_roles r, pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE r.rolname = ANY($3::text[]) AND n.nspname = $1 AND c.relname = $2
        ORDER BY 1`,
      [schema, table, roles],
    );
    for (const row of rows) privileges[row.role] = row.privs;
  }
  const fns = await db.query<{ sig: string; digest: string }>(
    `SELECT p.oid::regprocedure::text AS sig,
            md5(pg_catalog.pg_get_functiondef(p.oid) || coalesce(p.proacl::text, '')) AS digest
       FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname = $1 AND p.prokind IN ('f', 'p')
      ORDER BY 1`,
    [schema],
  );
  const functions: Record<string, string> = {};
  for (const row of fns.rows) functions[row.sig] = row.digest;
  return { ...fingerprint, privileges, functions };
}

export type DriftKind = 'missing-table' | 'rls' | 'missing-policy' | 'extra-policy' | 'changed-policy' | 'privilege' | 'function';

/** One difference between what a policy file produces and what the database has. */
export interface PolicyDrift {
  schema: string;
  table: string;
  kind: DriftKind;
  /** The policy, role or function it is about, when there is one. */
  object?: string;
  /** Human description: expected vs live. */
  detail: string;
}

function describePolicy(p: LivePolicy): string {
  return `${p.permissive ? 'PERMISSIVE' : 'RESTRICTIVE'} FOR ${p.command} TO ${p.roles.join(', ')} USING (${p.using ?? '—'}) WITH CHECK (${p.withCheck ?? '—'})`;
}

/** Differences between the expected state (what the file produces) and the live state. */
export function comparePolicyState(
  schema: string,
  table: string,
  expected: PolicyFingerprint & Partial<PolicySnapshot>,
  live: PolicyFingerprint & Partial<PolicySnapshot>,
): PolicyDrift[] {
  const out: PolicyDrift[] = [];
  const add = (kind: DriftKind, detail: string, object?: string) =>
    out.push({ schema, table, kind, ...(object !== undefined ? { object } : {}), detail });
  if (!live.exists) {
    add('missing-table', `table ${schema}.${table} does not exist`);
    return out;
  }
  if (expected.rlsEnabled !== live.rlsEnabled) {
    add('rls', `row level security is ${live.rlsEnabled ? 'enabled' : 'disabled'}; the file ${expected.rlsEnabled ? 'enables' : 'disables'} it`);
  }
  if (expected.rlsForced !== live.rlsForced) {
    add('rls', `row level security is ${live.rlsForced ? 'forced' : 'not forced'}; the file ${expected.rlsForced ? 'forces' : 'does not force'} it`);
  }
  const liveByName = new Map(live.policies.map((p) => [p.name, p]));
  const expectedByName = new Map(expected.policies.map((p) => [p.name, p]));
  for (const [name, p] of expectedByName) {
    const l = liveByName.get(name);
    if (!l) add('missing-policy', `policy ${name} is in the file but not in the database`, name);
    else if (describePolicy(l) !== describePolicy(p)) {
      add('changed-policy', `policy ${name}: the file has ${describePolicy(p)}; the database has ${describePolicy(l)}`, name);
    }
  }
  for (const [name, l] of liveByName) {
    if (!expectedByName.has(name)) add('extra-policy', `policy ${name} is in the database but not in the file: ${describePolicy(l)}`, name);
  }
  if (expected.privileges && live.privileges) {
    for (const role of new Set([...Object.keys(expected.privileges), ...Object.keys(live.privileges)])) {
      const e = (expected.privileges[role] ?? []).join(', ');
      const l = (live.privileges[role] ?? []).join(', ');
      if (e !== l) add('privilege', `role ${role} holds [${l}] on the table; the file grants [${e}]`, role);
    }
  }
  if (expected.functions && live.functions) {
    for (const sig of Object.keys(expected.functions)) {
      if (live.functions[sig] === undefined) add('function', `function ${sig} is in the file but not in the database`, sig);
      else if (live.functions[sig] !== expected.functions[sig]) {
        add('function', `function ${sig} differs from the file (definition or EXECUTE grants)`, sig);
      }
    }
  }
  return out;
}

export interface ExecuteFileResult {
  before: PolicySnapshot;
  after: PolicySnapshot;
  /** Partitions of the table (any depth), with their RLS flags and policies before and after. */
  partitions: { schema: string; table: string; before: PolicyFingerprint; after: PolicyFingerprint }[];
  /** Policies that existed before and that the file does not recreate (dropped), as `table: policy` for partitions. */
  dropped: string[];
}

/** The partitions (at any depth) of a table, in a stable order. */
async function partitionsOf(db: Queryable, schema: string, table: string): Promise<{ schema: string; table: string }[]> {
  const { rows } = await db.query<{ schema: string; table: string }>(
    `SELECT n.nspname AS schema, c.relname AS table
       FROM pg_catalog.pg_partition_tree((SELECT c0.oid FROM pg_catalog.pg_class c0 JOIN pg_catalog.pg_namespace n0 ON n0.oid = c0.relnamespace
                                           WHERE n0.nspname = $1 AND c0.relname = $2)) t
       JOIN pg_catalog.pg_class c ON c.oid = t.relid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE t.level > 0 AND c.relkind IN ('r', 'p')
      ORDER BY t.level, 1, 2`,
    [schema, table],
  );
  return rows;
}

/**
 * Inside the caller's transaction: snapshots the table (and its partitions), drops all their
 * policies, runs the file, and snapshots again. The files are the whole truth for a table's
 * policies, so a policy no file creates does not survive (apply reports it; diff reports it as extra).
 */
export async function executePolicyFile(
  tx: pg.ClientBase,
  file: { schema: string; table: string; text: string },
  roles: string[],
): Promise<ExecuteFileResult> {
  const before = await readSnapshot(tx, file.schema, file.table, roles);
  const parts = before.exists ? await partitionsOf(tx, file.schema, file.table) : [];
  const partsBefore = [];
  for (const p of parts) partsBefore.push(await readFingerprint(tx, p.schema, p.table));
  const drop = async (schema: string, table: string, policies: LivePolicy[]) => {
    for (const policy of policies) await tx.query(`DROP POLICY ${ident(policy.name)} ON ${qualified(schema, table)}`);
  };
  await drop(file.schema, file.table, before.policies);
  for (const [i, p] of parts.entries()) await drop(p.schema, p.table, partsBefore[i].policies);
  // One statement at a time: Citus cannot propagate DDL on a distributed table sent in a
  // multi-statement query string (`cannot insert multiple commands into a prepared statement`).
  for (const statement of splitStatements(file.text)) await tx.query(statement);
  const after = await readSnapshot(tx, file.schema, file.table, roles);
  const partitions = [];
  for (const [i, p] of parts.entries()) {
    partitions.push({ ...p, before: partsBefore[i], after: await readFingerprint(tx, p.schema, p.table) });
  }
  const gone = (b: PolicyFingerprint, a: PolicyFingerprint) => {
    const kept = new Set(a.policies.map((x) => x.name));
    return b.policies.map((x) => x.name).filter((n) => !kept.has(n));
  };
  return {
    before,
    after,
    partitions,
    dropped: [...gone(before, after), ...partitions.flatMap((p) => gone(p.before, p.after).map((n) => `${p.table}: ${n}`))],
  };
}

// Privilege probes: the role can neither TRUNCATE a scoped table (TRUNCATE ignores RLS) nor ALTER it (an owner can switch RLS off).
import type pg from 'pg';
import { qualified } from '../db/quote.js';
import { isPgServerError } from '../errors.js';
import { errorText, probeTx } from './probe-transaction.js';
import type { Outcome, TableProbeEnv } from './verify-types.js';

interface TreeMember {
  name: string;
  truncate: boolean;
  /** The role owns it, or inherits the rights of its owner. */
  owns: boolean;
  owner: string;
}

/** The table and its partitions and inheritance children (a grant or owner on one of them is enough). */
async function tableTree(client: pg.ClientBase, table: string, role: string): Promise<TreeMember[]> {
  const { rows } = await client.query<TreeMember>(
    `WITH RECURSIVE tree AS (
       SELECT $1::regclass::oid AS oid
       UNION SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN tree ON i.inhparent = tree.oid
     )
     SELECT n.nspname || '.' || c.relname AS name, pg_catalog.has_table_privilege($2, c.oid, 'TRUNCATE') AS truncate,
            pg_catalog.pg_has_role($2, c.relowner, 'USAGE') AS owns, pg_catalog.pg_get_userbyid(c.relowner) AS owner
       FROM tree JOIN pg_catalog.pg_class c ON c.oid = tree.oid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      ORDER BY (c.oid = $1::regclass) DESC, 1`,
    [table, role],
  );
  return rows;
}

/**
 * Runs `statement` as the role when the catalog says it is not allowed: it must fail with 42501.
 * The privilege check comes before the lock, so a refused statement never waits; an allowed one
 * would take an ACCESS EXCLUSIVE lock on a live table, which is why the catalog is asked first.
 */
async function expectRefused(env: TableProbeEnv, statement: string, what: string): Promise<Outcome> {
  try {
    await probeTx(env, null, async () => {}, (tx) => tx.query(statement));
    return { status: 'fail', detail: `${what} succeeded (rolled back)` };
  } catch (error) {
    if (isPgServerError(error) && error.code === '42501') return { status: 'pass', detail: `${what}: rejected (${error.message})` };
    if (isPgServerError(error)) return { status: 'fail', detail: `${what}: passed the privilege check, stopped only by ${errorText(error)}` };
    return { status: 'error', detail: `${what}: ${errorText(error)}` };
  }
}

/** `truncate`: TRUNCATE must be refused (42501) on the table and everything below it. */
export async function truncateProbe(env: TableProbeEnv): Promise<Outcome> {
  const t = qualified(env.manifest.schema, env.info.name);
  const allowed = (await tableTree(env.client, t, env.role)).filter((m) => m.truncate);
  if (allowed.length > 0) {
    return {
      status: 'fail',
      detail: `${env.role} may TRUNCATE ${allowed.map((m) => m.name).join(', ')}: TRUNCATE ignores row-level security and empties every tenant's rows (not run: it would lock the table)`,
    };
  }
  return expectRefused(env, `TRUNCATE ${t}`, `TRUNCATE ${env.manifest.schema}.${env.info.name}`);
}

/** `alter-table`: ALTER TABLE … NO FORCE ROW LEVEL SECURITY must be refused (the role owns nothing here). */
export async function alterTableProbe(env: TableProbeEnv): Promise<Outcome> {
  const t = qualified(env.manifest.schema, env.info.name);
  const owned = (await tableTree(env.client, t, env.role)).filter((m) => m.owns);
  if (owned.length > 0) {
    return {
      status: 'fail',
      detail: `${env.role} owns ${owned.map((m) => `${m.name} (owner ${m.owner})`).join(', ')}: an owner can switch row-level security off (not run: it would lock the table)`,
    };
  }
  return expectRefused(env, `ALTER TABLE ${t} NO FORCE ROW LEVEL SECURITY`, `ALTER TABLE ${env.manifest.schema}.${env.info.name} NO FORCE ROW LEVEL SECURITY`);
}

// The event trigger that secures every new partition of a scoped table the moment it is created or attached.
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Manifest } from '../config/manifest.js';
import type { Queryable } from '../db/connection.js';
import { ident, literal, qualified, MAX_IDENTIFIER_BYTES } from '../db/quote.js';
import { withTransaction } from '../db/transaction.js';
import { toTenancyError } from '../errors.js';

/** The trigger function, in the bookkeeping schema. */
export const PARTITION_TRIGGER_FUNCTION = 'secure_new_partitions';

/**
 * The transaction-local setting that switches the trigger off: the trigger sets it around its own
 * DDL (event triggers fire for DDL run inside them), and `policies apply` sets it while a policy
 * file runs (the file itself decides each partition's policies there).
 */
export const PARTITION_TRIGGER_GUARD = 'crm_tenancy.partition_trigger_off';

/**
 * The event trigger's name (event triggers are per database, not per schema): one per bookkeeping
 * schema, `<state schema>_secure_partitions`, with a hash suffix when that exceeds 63 bytes.
 */
export function partitionTriggerName(stateSchema: string): string {
  const name = `${stateSchema}_secure_partitions`;
  if (Buffer.byteLength(name, 'utf8') <= MAX_IDENTIFIER_BYTES) return name;
  const hash = createHash('sha256').update(stateSchema, 'utf8').digest('hex').slice(0, 8);
  return `secure_partitions_${hash}`;
}

/** The relations whose partitions the trigger secures: the tenant table and every scoped table. */
function securedTables(manifest: Manifest): string[] {
  return [manifest.tenant.table, ...manifest.tables.map((t) => t.name)];
}

/**
 * The trigger function's body. For every table a CREATE TABLE / ALTER TABLE touched, it walks the
 * table's partition tree (ATTACH PARTITION reports the parent, CREATE … PARTITION OF the new
 * table); each partition whose nearest secured ancestor is a scoped table and that carries none of
 * that ancestor's policies unchanged (a new or attached partition) gets row-level security enabled
 * and forced and every policy of the ancestor, recreated from pg_policy with the same command,
 * roles and expressions. Partitions already secured are left alone (no DDL), so it is idempotent. It grants nothing: the application reaches partitions through the parent, and a
 * partition that is readable directly (pg_partman copies the parent's grants) is isolated by its policies.
 */
export function partitionTriggerBody(manifest: Manifest): string {
  const tables = securedTables(manifest);
  const names = `ARRAY[${tables.map((t) => literal(t)).join(', ')}]::text[]`;
  return `
DECLARE
  part record;
  pol record;
  roles text;
BEGIN
  IF current_setting(${literal(PARTITION_TRIGGER_GUARD)}, true) = 'on' THEN
    RETURN;
  END IF;
  PERFORM set_config(${literal(PARTITION_TRIGGER_GUARD)}, 'on', true);
  FOR part IN
    SELECT DISTINCT c.oid AS relid, n.nspname, c.relname, c.relrowsecurity, c.relforcerowsecurity, anc.oid AS parent_oid
      FROM (SELECT DISTINCT d.objid FROM pg_event_trigger_ddl_commands() d WHERE d.classid = 'pg_class'::regclass) cmd
     CROSS JOIN LATERAL pg_partition_tree(cmd.objid) tree
      JOIN pg_class c ON c.oid = tree.relid
      JOIN pg_namespace n ON n.oid = c.relnamespace
     CROSS JOIN LATERAL (
       SELECT a.relid AS oid
         FROM pg_partition_ancestors(c.oid) WITH ORDINALITY a(relid, depth)
         JOIN pg_class ac ON ac.oid = a.relid
         JOIN pg_namespace an ON an.oid = ac.relnamespace
        WHERE a.relid <> c.oid AND an.nspname = ${literal(manifest.schema)} AND ac.relname = ANY (${names})
        ORDER BY a.depth
        LIMIT 1) anc
     WHERE c.relispartition
       -- Only partitions that carry none of the parent's policies as they are (new, or attached):
       -- one that has them was secured already, and a later change to it (NO FORCE, an extra
       -- policy) is drift for policies diff and the audit to report, not for this trigger to hide.
       AND NOT EXISTS (
         SELECT 1 FROM pg_policy p JOIN pg_policy q ON q.polname = p.polname
          WHERE p.polrelid = anc.oid AND q.polrelid = c.oid AND q.polpermissive = p.polpermissive
            AND q.polcmd = p.polcmd AND q.polroles = p.polroles
            AND pg_get_expr(q.polqual, q.polrelid) IS NOT DISTINCT FROM pg_get_expr(p.polqual, p.polrelid)
            AND pg_get_expr(q.polwithcheck, q.polrelid) IS NOT DISTINCT FROM pg_get_expr(p.polwithcheck, p.polrelid))
     ORDER BY n.nspname, c.relname
  LOOP
    IF NOT part.relrowsecurity THEN
      EXECUTE format('ALTER TABLE %I.%I ENABLE ROW LEVEL SECURITY', part.nspname, part.relname);
    END IF;
    IF NOT part.relforcerowsecurity THEN
      EXECUTE format('ALTER TABLE %I.%I FORCE ROW LEVEL SECURITY', part.nspname, part.relname);
    END IF;
    FOR pol IN
      SELECT p.polname, p.polpermissive, p.polcmd, p.polroles,
             pg_get_expr(p.polqual, p.polrelid) AS qual, pg_get_expr(p.polwithcheck, p.polrelid) AS withcheck
        FROM pg_policy p
       WHERE p.polrelid = part.parent_oid
         AND NOT EXISTS (
           SELECT 1 FROM pg_policy q
            WHERE q.polrelid = part.relid AND q.polname = p.polname AND q.polpermissive = p.polpermissive
              AND q.polcmd = p.polcmd AND q.polroles = p.polroles
              AND pg_get_expr(q.polqual, q.polrelid) IS NOT DISTINCT FROM pg_get_expr(p.polqual, p.polrelid)
              AND pg_get_expr(q.polwithcheck, q.polrelid) IS NOT DISTINCT FROM pg_get_expr(p.polwithcheck, p.polrelid))
       ORDER BY p.polname
    LOOP
      SELECT CASE WHEN pol.polroles = '{0}'::oid[] THEN 'PUBLIC'
                  ELSE string_agg(quote_ident(r.rolname), ', ' ORDER BY r.rolname) END
        INTO roles
        FROM unnest(pol.polroles) ro(oid) LEFT JOIN pg_roles r ON r.oid = ro.oid;
      EXECUTE format('DROP POLICY IF EXISTS %I ON %I.%I', pol.polname, part.nspname, part.relname);
      EXECUTE format('CREATE POLICY %I ON %I.%I AS %s FOR %s TO %s%s%s',
                     pol.polname, part.nspname, part.relname,
                     CASE WHEN pol.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END,
                     CASE pol.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                                     WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
                     roles,
                     CASE WHEN pol.qual IS NULL THEN '' ELSE ' USING (' || pol.qual || ')' END,
                     CASE WHEN pol.withcheck IS NULL THEN '' ELSE ' WITH CHECK (' || pol.withcheck || ')' END);
    END LOOP;
  END LOOP;
  PERFORM set_config(${literal(PARTITION_TRIGGER_GUARD)}, 'off', true);
END
`;
}

/**
 * The idempotent SQL that installs (or updates) the trigger. The function is SECURITY INVOKER: it
 * runs as the role whose CREATE TABLE / ATTACH fired it, which owns the new partition (CREATE …
 * PARTITION OF makes it the owner; ATTACH requires owning both tables), and that is all ENABLE /
 * FORCE ROW LEVEL SECURITY and CREATE POLICY need. CREATE EVENT TRIGGER needs a superuser.
 *
 * @example
 * CREATE OR REPLACE FUNCTION "crm_tenancy"."secure_new_partitions"() RETURNS event_trigger LANGUAGE plpgsql
 *   SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $crm_tenancy$ … $crm_tenancy$;
 * REVOKE ALL ON FUNCTION "crm_tenancy"."secure_new_partitions"() FROM PUBLIC;
 * DROP EVENT TRIGGER IF EXISTS "crm_tenancy_secure_partitions";
 * CREATE EVENT TRIGGER "crm_tenancy_secure_partitions" ON ddl_command_end
 *   WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE') EXECUTE FUNCTION "crm_tenancy"."secure_new_partitions"();
 */
export function renderPartitionTriggerSql(manifest: Manifest): string {
  const fn = qualified(manifest.stateSchema, PARTITION_TRIGGER_FUNCTION);
  const trigger = ident(partitionTriggerName(manifest.stateSchema));
  return [
    `CREATE SCHEMA IF NOT EXISTS ${ident(manifest.stateSchema)};`,
    `CREATE OR REPLACE FUNCTION ${fn}() RETURNS event_trigger LANGUAGE plpgsql`,
    `  SECURITY INVOKER SET search_path = pg_catalog, pg_temp AS $crm_tenancy$${partitionTriggerBody(manifest)}$crm_tenancy$;`,
    `REVOKE ALL ON FUNCTION ${fn}() FROM PUBLIC;`,
    `DROP EVENT TRIGGER IF EXISTS ${trigger};`,
    `CREATE EVENT TRIGGER ${trigger} ON ddl_command_end`,
    `  WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE') EXECUTE FUNCTION ${fn}();`,
    '',
  ].join('\n');
}

/** The SQL that removes the trigger (partition_trigger: false, or no scoped table is partitioned any more). */
export function renderDropPartitionTriggerSql(manifest: Manifest): string {
  return [
    `DROP EVENT TRIGGER IF EXISTS ${ident(partitionTriggerName(manifest.stateSchema))};`,
    `DROP FUNCTION IF EXISTS ${qualified(manifest.stateSchema, PARTITION_TRIGGER_FUNCTION)}();`,
    '',
  ].join('\n');
}

export interface PartitionTriggerState {
  /** The event trigger's name. */
  name: string;
  /** The manifest asks for it (`tenant.partition_trigger`, default true). */
  wanted: boolean;
  /** Partitioned tables among the tenant table and the scoped tables (schema-qualified display names). */
  partitionedTables: string[];
  /** The event trigger exists. */
  installed: boolean;
  /** It fires (`evtenabled` is not 'D'). */
  enabled: boolean;
  /** Its function's body is what this manifest renders (false when the manifest's tables changed since). */
  current: boolean;
}

/** The trigger's live state and whether the manifest needs it. Read-only. */
export async function readPartitionTrigger(db: Queryable, manifest: Manifest): Promise<PartitionTriggerState> {
  const name = partitionTriggerName(manifest.stateSchema);
  const partitioned = await db.query<{ relname: string }>(
    `SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = ANY ($2::text[]) AND c.relkind = 'p' ORDER BY 1`,
    [manifest.schema, securedTables(manifest)],
  );
  const live = await db.query<{ evtenabled: string; prosrc: string | null }>(
    `SELECT e.evtenabled, p.prosrc
       FROM pg_catalog.pg_event_trigger e
       LEFT JOIN (pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace pn ON pn.oid = p.pronamespace)
              ON p.oid = e.evtfoid AND pn.nspname = $2 AND p.proname = $3
      WHERE e.evtname = $1`,
    [name, manifest.stateSchema, PARTITION_TRIGGER_FUNCTION],
  );
  const row = live.rows[0];
  return {
    name,
    wanted: manifest.tenant.partitionTrigger,
    partitionedTables: partitioned.rows.map((r) => `${manifest.schema}.${r.relname}`),
    installed: row !== undefined,
    enabled: row !== undefined && row.evtenabled !== 'D',
    current: row !== undefined && row.prosrc === partitionTriggerBody(manifest),
  };
}

export type PartitionTriggerAction = 'install' | 'update' | 'remove' | 'none';

export interface PartitionTriggerPlan {
  action: PartitionTriggerAction;
  /** Why (one line). */
  reason: string;
  /** The SQL the action runs ('' for none). */
  sql: string;
}

/** What `policies apply` does with the trigger, given its live state. */
export function planPartitionTrigger(manifest: Manifest, state: PartitionTriggerState): PartitionTriggerPlan {
  const needed = state.wanted && state.partitionedTables.length > 0;
  if (!needed) {
    const why = !state.wanted ? 'tenant.partition_trigger is false' : 'no scoped table is partitioned';
    return state.installed
      ? { action: 'remove', reason: `${why}: the installed trigger is dropped`, sql: renderDropPartitionTriggerSql(manifest) }
      : { action: 'none', reason: why, sql: '' };
  }
  const sql = renderPartitionTriggerSql(manifest);
  const tables = state.partitionedTables.join(', ');
  if (!state.installed) return { action: 'install', reason: `secures new partitions of ${tables}`, sql };
  if (!state.current) return { action: 'update', reason: `the trigger function differs from the manifest's (${tables})`, sql };
  if (!state.enabled) return { action: 'update', reason: 'the event trigger is disabled', sql };
  return { action: 'none', reason: `installed and current (${tables})`, sql: '' };
}

export type PartitionTriggerStatus =
  | 'installed'
  | 'updated'
  | 'removed'
  | 'would-install'
  | 'would-update'
  | 'would-remove'
  | 'unchanged'
  | 'failed';

export interface PartitionTriggerOutcome extends PartitionTriggerPlan {
  name: string;
  status: PartitionTriggerStatus;
}

const DONE: Record<PartitionTriggerAction, PartitionTriggerStatus> = { install: 'installed', update: 'updated', remove: 'removed', none: 'unchanged' };
const WOULD: Record<PartitionTriggerAction, PartitionTriggerStatus> = { install: 'would-install', update: 'would-update', remove: 'would-remove', none: 'unchanged' };

/**
 * Installs, updates or removes the trigger as the manifest and the database need, in one
 * transaction (the caller's lock timeout applies). A role that may not create event triggers
 * (only superusers may) gets `failed` with what to do, not an exception.
 */
export async function syncPartitionTrigger(
  db: pg.ClientBase,
  manifest: Manifest,
  options: { dryRun: boolean; lockTimeoutMs: number },
): Promise<PartitionTriggerOutcome> {
  const plan = planPartitionTrigger(manifest, await readPartitionTrigger(db, manifest));
  const name = partitionTriggerName(manifest.stateSchema);
  if (plan.action === 'none' || options.dryRun) return { ...plan, name, status: (options.dryRun ? WOULD : DONE)[plan.action] };
  try {
    await withTransaction(db, (tx) => tx.query(plan.sql), { lockTimeoutMs: options.lockTimeoutMs });
    return { ...plan, name, status: DONE[plan.action] };
  } catch (error) {
    const err = toTenancyError(error);
    const superuser = (error as { code?: string }).code === '42501';
    return {
      ...plan,
      name,
      status: 'failed',
      reason: superuser
        ? `${err.message}: only a superuser may create event triggers; run \`policies apply\` as one, or set tenant.partition_trigger: false and run \`generate\` + \`policies apply\` after every new partition`
        : err.message,
    };
  }
}

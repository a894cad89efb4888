// Role probes over the whole database: tables outside the fence, the bookkeeping schema, and SET ROLE paths out of RLS.
import { ident, qualified } from '../db/quote.js';
import { isPgServerError } from '../errors.js';
import { errorText, probeTx, withSavepoint } from './probe-transaction.js';
import type { Outcome, ProbeEnv } from './verify-types.js';

/** One result of a role probe: the object it is about, and what was found. */
export type Finding = Outcome & { table: string };

const scopedNames = (env: ProbeEnv): string[] => [env.manifest.tenant.table, ...env.manifest.tables.map((t) => t.name)];

/**
 * `unprotected-table`: every other table the role can read that carries the tenant column, or sits
 * below a scoped table (partition or inheritance child, where the parent's policies do not apply
 * when it is queried directly), must have row-level security enabled and forced.
 */
export async function unprotectedTables(env: ProbeEnv): Promise<Finding[]> {
  const { manifest, role } = env;
  const { rows } = await env.client.query<{ schema: string; name: string; rls: boolean; forced: boolean; parent: string | null; hasColumn: boolean }>(
    `WITH RECURSIVE scoped AS (
       SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $1 AND c.relname = ANY($2::text[]) AND c.relkind IN ('r', 'p')
     ), below AS (
       SELECT i.inhrelid AS oid, i.inhparent AS parent FROM pg_catalog.pg_inherits i WHERE i.inhparent IN (SELECT oid FROM scoped)
       UNION
       SELECT i.inhrelid, i.inhparent FROM pg_catalog.pg_inherits i JOIN below b ON i.inhparent = b.oid
     )
     SELECT n.nspname AS schema, c.relname AS name, c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
            (SELECT pn.nspname || '.' || pc.relname FROM below b JOIN pg_catalog.pg_class pc ON pc.oid = b.parent
               JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace WHERE b.oid = c.oid ORDER BY 1 LIMIT 1) AS parent,
            EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attname = $3 AND a.attnum > 0 AND NOT a.attisdropped) AS "hasColumn"
       FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema', $4)
        AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
        AND c.oid NOT IN (SELECT oid FROM scoped)
        AND (c.oid IN (SELECT oid FROM below)
             OR EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attname = $3 AND a.attnum > 0 AND NOT a.attisdropped))
        AND pg_catalog.has_schema_privilege($5, c.relnamespace, 'USAGE')
        AND (pg_catalog.has_table_privilege($5, c.oid, 'SELECT') OR pg_catalog.has_any_column_privilege($5, c.oid, 'SELECT'))
        AND NOT (c.relrowsecurity AND c.relforcerowsecurity)
      ORDER BY 1, 2`,
    [manifest.schema, scopedNames(env), manifest.tenant.column, manifest.stateSchema, role],
  );
  const findings = rows.map((r): Finding => {
    const table = `${r.schema}.${r.name}`;
    const why = r.parent ? `below the scoped table ${r.parent}` : `has a ${manifest.tenant.column} column`;
    const rls = !r.rls ? 'row-level security off' : 'row-level security not forced';
    const exempt = r.schema === manifest.schema ? manifest.exempt.find((e) => e.name === r.name) : undefined;
    if (exempt && !r.parent) return { table, status: 'reported', detail: `${role} can read it, it ${why} and ${rls}; exempt in the manifest: ${exempt.reason}` };
    return { table, status: 'fail', detail: `${role} can read it, it ${why} and has ${rls}: every tenant's rows are readable` };
  });
  if (findings.length > 0) return findings;
  return [{ table: 'tables', status: 'pass', detail: `no other table ${role} can read has ${manifest.tenant.column} or sits below a scoped table without forced row-level security` }];
}

/** `state-schema`: as the role, reading any table of the bookkeeping schema must be refused (42501). */
export async function stateSchemaProbe(env: ProbeEnv): Promise<Finding[]> {
  const schema = env.manifest.stateSchema;
  const { rows } = await env.client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY 1`,
    [schema],
  );
  if (rows.length === 0) return [{ table: schema, status: 'n/a', detail: `the bookkeeping schema ${schema} holds no table (yet)` }];
  const findings = await probeTx(env, null, async () => {}, async (tx) => {
    const out: Finding[] = [];
    for (const { name } of rows) {
      try {
        await withSavepoint(tx, () => tx.query(`SELECT 1 FROM ${qualified(schema, name)} LIMIT 1`));
        out.push({
          table: `${schema}.${name}`,
          status: 'fail',
          detail: `${env.role} can read ${schema}.${name}: the bookkeeping holds full rows of every tenant (archives, logs); REVOKE ALL ON SCHEMA ${ident(schema)} FROM ${ident(env.role)}`,
        });
      } catch (error) {
        if (!(isPgServerError(error) && error.code === '42501')) out.push({ table: `${schema}.${name}`, status: 'error', detail: errorText(error) });
      }
    }
    return out;
  });
  if (findings.length > 0) return findings;
  return [{ table: schema, status: 'pass', detail: `reading any of the ${rows.length} table(s) of ${schema} is refused` }];
}

/** `role-membership`: the role cannot SET ROLE to a superuser, a BYPASSRLS role, or an owner of a scoped table (or of a partition of one). */
export async function roleMembership(env: ProbeEnv): Promise<Finding[]> {
  const { manifest, role } = env;
  // SET ROLE is checked against the session user (a superuser here), so it cannot be tried live from
  // this connection: the catalog answers for the role. PostgreSQL 16 split SET from membership.
  const mode = env.catalog.serverVersion >= 160000 ? 'SET' : 'MEMBER';
  const { rows } = await env.client.query<{ name: string; super: boolean; bypass: boolean; owns: string[] }>(
    `WITH RECURSIVE scoped AS (
       SELECT c.oid FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = $2 AND c.relname = ANY($3::text[]) AND c.relkind IN ('r', 'p')
       UNION SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN scoped s ON i.inhparent = s.oid
     )
     SELECT r.rolname AS name, r.rolsuper AS super, r.rolbypassrls AS bypass,
            ARRAY(SELECT n.nspname || '.' || c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                   WHERE c.oid IN (SELECT oid FROM scoped) AND c.relowner = r.oid ORDER BY 1) AS owns
       FROM pg_catalog.pg_roles r
      WHERE r.rolname <> $1 AND pg_catalog.pg_has_role($1, r.oid, $4)
        AND (r.rolsuper OR r.rolbypassrls OR EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid IN (SELECT oid FROM scoped) AND c.relowner = r.oid))
      ORDER BY 1`,
    [role, manifest.schema, scopedNames(env), mode],
  );
  const findings = rows.map((r): Finding => {
    const what = r.super ? 'a superuser' : r.bypass ? 'a BYPASSRLS role' : `the owner of ${r.owns.join(', ')}`;
    return { table: r.name, status: 'fail', detail: `${role} can SET ROLE to ${r.name}, ${what}: row-level security no longer binds it; REVOKE ${ident(r.name)} FROM ${ident(role)}` };
  });
  if (findings.length > 0) return findings;
  return [{ table: role, status: 'pass', detail: `${role} cannot SET ROLE to a superuser, a BYPASSRLS role or an owner of a scoped table` }];
}

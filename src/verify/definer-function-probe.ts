// The definer-function probe: every SECURITY DEFINER function or trigger the role can reach must be listed under definer_functions.
import { ident, qualified } from '../db/quote.js';
import { errorText, probeTx } from './probe-transaction.js';
import type { Finding } from './role-probes.js';
import type { ProbeEnv } from './verify-types.js';

interface DefinerFunction {
  sig: string;
  name: string;
  schema: string;
  owner: string;
  ownerBypasses: boolean;
  /** EXECUTE granted (schema USAGE aside: one GRANT away, so it counts). */
  callable: boolean;
  /** USAGE on its schema: it can be called today. */
  reachable: boolean;
  /** Tables the role can write whose triggers run this function. */
  triggers: string[];
  /** A zero-argument set-returning function whose rows have the tenant column: it can be called and counted. */
  countable: boolean;
}

/**
 * `definer-function`: SECURITY DEFINER functions (any schema but the system's, extension members
 * aside) that the role can EXECUTE, or that fire as triggers on a table the role can write, and
 * are not listed under `definer_functions`: one failure each. A definer function runs with its
 * owner's rights, so it can hand out (or copy out) any tenant's rows, dynamic SQL included. A
 * security_invoker view over one is reached the same way.
 */
export async function definerFunctions(env: ProbeEnv): Promise<Finding[]> {
  const { manifest, role, a, b } = env;
  const { rows } = await env.client.query<DefinerFunction>(
    `SELECT * FROM (
       SELECT p.oid::regprocedure::text AS sig, p.proname AS name, n.nspname AS schema, o.rolname AS owner,
              (o.rolsuper OR o.rolbypassrls) AS "ownerBypasses",
              p.prorettype NOT IN ('pg_catalog.trigger'::regtype, 'pg_catalog.event_trigger'::regtype)
                AND pg_catalog.has_function_privilege($1, p.oid, 'EXECUTE') AS callable,
              pg_catalog.has_schema_privilege($1, p.pronamespace, 'USAGE') AS reachable,
              ARRAY(SELECT DISTINCT tn.nspname || '.' || tc.relname
                      FROM pg_catalog.pg_trigger tg JOIN pg_catalog.pg_class tc ON tc.oid = tg.tgrelid
                      JOIN pg_catalog.pg_namespace tn ON tn.oid = tc.relnamespace
                     WHERE tg.tgfoid = p.oid AND NOT tg.tgisinternal
                       AND (pg_catalog.has_table_privilege($1, tc.oid, 'INSERT') OR pg_catalog.has_table_privilege($1, tc.oid, 'UPDATE')
                            OR pg_catalog.has_table_privilege($1, tc.oid, 'DELETE') OR pg_catalog.has_table_privilege($1, tc.oid, 'TRUNCATE'))
                     ORDER BY 1) AS triggers,
              p.pronargs = 0 AND p.proretset AND p.prokind = 'f'
                AND EXISTS (SELECT 1 FROM pg_catalog.pg_type ty JOIN pg_catalog.pg_attribute at ON at.attrelid = ty.typrelid
                             WHERE ty.oid = p.prorettype AND at.attname = $2 AND at.attnum > 0 AND NOT at.attisdropped) AS countable
         FROM pg_catalog.pg_proc p
         JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
         JOIN pg_catalog.pg_roles o ON o.oid = p.proowner
        WHERE p.prosecdef AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                           WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
     ) f
     WHERE f.callable OR cardinality(f.triggers) > 0
     ORDER BY f.sig`,
    [role, manifest.tenant.column],
  );
  const allowed = new Map(manifest.definerFunctions.map((f) => [f.name, f.reason]));
  const findings: Finding[] = [];
  for (const fn of rows) {
    const reach = [fn.callable ? `${role} can execute it${fn.reachable ? '' : ` (once it gets USAGE on schema ${fn.schema})`}` : '', fn.triggers.length ? `it fires as a trigger on ${fn.triggers.join(', ')}, which ${role} can write` : '']
      .filter(Boolean)
      .join('; ');
    const head = `SECURITY DEFINER function ${fn.sig} runs as ${fn.owner}${fn.ownerBypasses ? ' (bypasses row-level security)' : ''}; ${reach}`;
    if (allowed.has(fn.name)) {
      findings.push({ table: fn.sig, status: 'reported', detail: `${head}; listed under definer_functions: ${allowed.get(fn.name)}` });
      continue;
    }
    let rowsOfB = '';
    if (fn.callable && fn.reachable && fn.countable) {
      // Shows what the hole gives away: tenant B's rows, with tenant A set.
      try {
        const n = await probeTx(env, a, async () => {}, async (tx) =>
          Number(
            (await tx.query(`SELECT count(*) AS n FROM ${qualified(fn.schema, fn.name)}() x WHERE x.${ident(manifest.tenant.column)}::text = $1`, [b])).rows[0].n,
          ),
        );
        rowsOfB = `; with tenant ${a} set it returns ${n} row(s) of tenant ${b}`;
      } catch (error) {
        rowsOfB = `; calling it raised ${errorText(error)}`;
      }
    }
    findings.push({ table: fn.sig, status: 'fail', detail: `${head}${rowsOfB}; not listed under definer_functions` });
  }
  if (findings.length > 0) return findings;
  return [{ table: 'functions', status: 'pass', detail: `no SECURITY DEFINER function or trigger ${role} can reach` }];
}

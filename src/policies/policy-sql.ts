// The one template every policy file is rendered from: RLS on + forced, a tenant policy, bypass policies, grants.
import { createHash } from 'node:crypto';
import type { LiveContext } from '../config/live-context.js';
import { findRelation, type CatalogPolicy, type CatalogTable } from '../db/catalog.js';
import { commentName, commentText, ident, inertSql, literal, qualified, typeSql, MAX_IDENTIFIER_BYTES } from '../db/quote.js';

/** The name of the generated tenant policy on every table. */
export const TENANT_POLICY = 'tenant_isolation';

/**
 * A `shared_rows` table's policies, one per command instead of one FOR ALL: reads admit the shared
 * (NULL-tenant) rows, while UPDATE and DELETE (USING) and INSERT and UPDATE (WITH CHECK) compare the
 * tenant only, so a tenant can neither change, delete nor create a shared row.
 */
export const SHARED_ROWS_POLICIES = {
  SELECT: 'tenant_isolation_select',
  INSERT: 'tenant_isolation_insert',
  UPDATE: 'tenant_isolation_update',
  DELETE: 'tenant_isolation_delete',
} as const;

/** Every policy name the template owns on a table (either form), so a switch of form drops the other one. */
export const GENERATED_TENANT_POLICIES: readonly string[] = [TENANT_POLICY, ...Object.values(SHARED_ROWS_POLICIES)];

/** Everything the template needs to render one table's policy file. */
export interface PolicyTarget {
  schema: string;
  table: string;
  /** The compared column: the tenant column, or the tenant key on the tenant table itself. */
  column: string;
  /** The custom setting holding the current tenant, e.g. app.current_company_id. */
  setting: string;
  /** The tenant key's type (format_type output), e.g. integer, uuid. */
  type: string;
  /** True for the tenant table (a tenant sees only its own row). */
  isTenantTable: boolean;
  /** `shared_rows: true`: rows with a NULL tenant are readable by every tenant, writable by none. */
  sharedRows?: boolean;
  /** distribution citus: the setting read without the scalar subquery Citus refuses (see tenantPredicate). */
  citus?: boolean;
  appRoles: string[];
  bypass: { role: string; reason: string }[];
  /**
   * Policies the table already had (not ours): kept in the file as they were. When any of them is
   * permissive the tenant policy is RESTRICTIVE, so none can widen it.
   */
  existing: CatalogPolicy[];
  /** Sequences behind serial defaults ([schema, name]), which INSERT needs USAGE on. */
  sequences: [string, string][];
  /**
   * Partitions (at any depth) of a partitioned table: RLS on the parent does not apply when a
   * partition is queried directly, so each gets the same policies (and no grants of its own).
   */
  partitions?: { schema: string; name: string; existing: CatalogPolicy[] }[];
}

function shortHash(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 8);
}

/** Cuts a name to at most `bytes` UTF-8 bytes without splitting a character. */
function truncateBytes(name: string, bytes: number): string {
  let out = '';
  for (const ch of name) {
    if (Buffer.byteLength(out + ch, 'utf8') > bytes) break;
    out += ch;
  }
  return out;
}

/**
 * The policy name for one bypass role: `bypass_<role>`, shortened with a hash suffix when it would
 * exceed PostgreSQL's 63-byte identifier limit (so two long role names never collide).
 */
export function bypassPolicyName(role: string): string {
  const name = `bypass_${role}`;
  if (Buffer.byteLength(name, 'utf8') <= MAX_IDENTIFIER_BYTES) return name;
  return `${truncateBytes(name, MAX_IDENTIFIER_BYTES - 9)}_${shortHash(role)}`;
}

/**
 * The tenant predicate: fail closed (unset or empty setting → NULL → no rows, no error), read once
 * per statement (an uncorrelated scalar subquery is an InitPlan), and index-friendly (`col = $param`).
 *
 * @example tenantPredicate('company_id', 'app.current_company_id', 'integer')
 * // => "company_id" = (SELECT nullif(current_setting('app.current_company_id', true), '')::integer)
 * tenantPredicate('company_id', 'app.current_company_id', 'integer', true) // distribution citus
 * // => "company_id" = nullif(current_setting('app.current_company_id', true), '')::integer
 */
export function tenantPredicate(column: string, setting: string, type: string, citus = false): string {
  const read = `nullif(current_setting(${literal(setting)}, true), '')::${typeSql(type)}`;
  // Citus refuses a subquery in a policy on a distributed table. The bare read is STABLE: the planner
  // still compares the column with one value per statement (an index condition, like a parameter),
  // and it fails closed the same way: unset or '' → NULL → no row.
  return citus ? `${ident(column)} = ${read}` : `${ident(column)} = (SELECT ${read})`;
}

function roleList(roles: string[]): string {
  return roles.map((r) => (r === 'public' ? 'PUBLIC' : ident(r))).join(', ');
}

const SEQUENCE_DEFAULT = /^nextval\('((?:[^']|'')+)'::regclass\)$/;

/**
 * Splits regclass text (`seq`, `"we""ird"`, `s."t.x"`) into its unquoted parts; undefined when it
 * is not a plain (optionally schema-qualified) name.
 */
export function parseQualifiedName(text: string): string[] | undefined {
  const parts: string[] = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] === '"') {
      let part = '';
      i++;
      for (;;) {
        if (i >= text.length) return undefined;
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            part += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        part += text[i++];
      }
      parts.push(part);
    } else {
      const match = /^[a-z_\u0080-\uffff][a-z0-9_$\u0080-\uffff]*/u.exec(text.slice(i));
      if (!match) return undefined;
      parts.push(match[0]);
      i += match[0].length;
    }
    if (i === text.length) break;
    if (text[i] !== '.') return undefined;
    i++;
  }
  return parts.length === 1 || parts.length === 2 ? parts : undefined;
}

/**
 * Sequences a table's serial defaults draw from, as [schema, name] (unqualified regclass text is
 * taken to be in the table's schema). Identity columns need no USAGE grant, so they are not listed.
 */
export function serialSequences(table: CatalogTable | undefined): [string, string][] {
  if (!table) return [];
  const out = new Map<string, [string, string]>();
  for (const column of table.columns) {
    const match = column.default ? SEQUENCE_DEFAULT.exec(column.default) : null;
    const parts = match ? parseQualifiedName(match[1].replace(/''/g, "'")) : undefined;
    if (!parts) continue;
    const name: [string, string] = parts.length === 2 ? [parts[0], parts[1]] : [table.schema, parts[0]];
    out.set(name.join('\u0000'), name);
  }
  return [...out.values()];
}

/** The policy targets of a manifest on a live database: the tenant table first, then scoped tables in manifest order. */
export function policyTargets(live: LiveContext): PolicyTarget[] {
  const { manifest } = live;
  const base = {
    schema: manifest.schema,
    setting: manifest.tenant.setting,
    type: live.tenantType,
    appRoles: manifest.roles.app,
    bypass: manifest.roles.bypass,
    ...(manifest.distribution === 'citus' ? { citus: true } : {}),
  };
  const ours = new Set([...GENERATED_TENANT_POLICIES, ...manifest.roles.bypass.map((b) => bypassPolicyName(b.role))]);
  const make = (table: string, column: string, isTenantTable: boolean, sharedRows = false): PolicyTarget => {
    const rel = findRelation(live.catalog, manifest.schema, table);
    const partitions: NonNullable<PolicyTarget['partitions']> = [];
    const walk = (schema: string, name: string) => {
      for (const child of live.catalog.relations.values()) {
        if (child.partitionOf?.schema === schema && child.partitionOf.name === name) {
          partitions.push({ schema: child.schema, name: child.name, existing: child.policies.filter((p) => !ours.has(p.name)) });
          walk(child.schema, child.name);
        }
      }
    };
    walk(manifest.schema, table);
    return {
      ...base,
      table,
      column,
      isTenantTable,
      ...(sharedRows ? { sharedRows } : {}),
      existing: (rel?.policies ?? []).filter((p) => !ours.has(p.name)),
      sequences: serialSequences(rel),
      ...(partitions.length > 0 ? { partitions } : {}),
    };
  };
  return [
    make(manifest.tenant.table, manifest.tenant.key, true),
    ...manifest.tables.map((t) => make(t.name, manifest.tenant.column, false, t.sharedRows)),
  ];
}

/** CREATE POLICY text recreating an existing policy from the catalog (pg_get_expr output is valid SQL). */
export function recreatePolicy(schema: string, table: string, policy: CatalogPolicy): string {
  const lines = [
    `DROP POLICY IF EXISTS ${ident(policy.name)} ON ${qualified(schema, table)};`,
    `CREATE POLICY ${ident(policy.name)} ON ${qualified(schema, table)} AS ${policy.permissive ? 'PERMISSIVE' : 'RESTRICTIVE'} FOR ${policy.command} TO ${roleList(policy.roles)}`,
  ];
  if (policy.using !== null) lines.push(`  USING (${inertSql(policy.using)})`);
  if (policy.withCheck !== null) lines.push(`  WITH CHECK (${inertSql(policy.withCheck)})`);
  lines[lines.length - 1] += ';';
  return lines.join('\n');
}

/**
 * The SQL body of one policy file. Idempotent: running it twice leaves the same state.
 *
 * @example
 * ALTER TABLE "public"."deals" ENABLE ROW LEVEL SECURITY;
 * ALTER TABLE "public"."deals" FORCE ROW LEVEL SECURITY;
 * DROP POLICY IF EXISTS "tenant_isolation" ON "public"."deals";
 * CREATE POLICY "tenant_isolation" ON "public"."deals" AS PERMISSIVE FOR ALL TO "crm_app"
 *   USING ("company_id" = (SELECT nullif(current_setting('app.current_company_id', true), '')::integer))
 *   WITH CHECK ("company_id" = (SELECT nullif(current_setting('app.current_company_id', true), '')::integer));
 */
export function renderPolicyBody(target: PolicyTarget): string {
  const out: string[] = [];
  out.push(
    target.isTenantTable
      ? `-- The tenant table: a tenant sees only its own row (${commentName(target.column)} compared with ${commentText(target.setting)}).`
      : `-- Tenant column ${commentName(target.column)} compared with ${commentText(target.setting)}; no tenant set → no rows, no error.`,
  );
  if (target.sharedRows) {
    out.push(
      `-- shared_rows: a row whose ${commentName(target.column)} is NULL is shared by every tenant: each tenant reads it,`,
      `-- none may change, delete or create one (one policy per command; writes compare the tenant only).`,
    );
  }
  out.push(...relationPolicies(target, target.schema, target.table, target.existing));
  const table = qualified(target.schema, target.table);
  out.push('', '-- What the roles may do at all (the policies above decide which rows).');
  const apps = roleList(target.appRoles);
  out.push(`GRANT USAGE ON SCHEMA ${ident(target.schema)} TO ${apps};`);
  out.push(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${table} TO ${apps};`);
  for (const [schema, name] of target.sequences) out.push(`GRANT USAGE ON SEQUENCE ${qualified(schema, name)} TO ${apps};`);
  if (target.bypass.length > 0) {
    const bypass = roleList(target.bypass.map((b) => b.role));
    out.push(`GRANT USAGE ON SCHEMA ${ident(target.schema)} TO ${bypass};`);
    out.push(`GRANT SELECT ON ${table} TO ${bypass};`);
  }
  for (const partition of target.partitions ?? []) {
    out.push(
      '',
      `-- Partition ${commentName(partition.schema, partition.name)}: the parent's policies do not apply when it is queried directly.`,
      ...relationPolicies(target, partition.schema, partition.name, partition.existing),
    );
  }
  return `${out.join('\n')}\n`;
}

/** ENABLE + FORCE, the tenant policy, kept policies and bypass policies of one relation. */
function relationPolicies(target: PolicyTarget, schema: string, name: string, existing: CatalogPolicy[]): string[] {
  const table = qualified(schema, name);
  const predicate = tenantPredicate(target.column, target.setting, target.type, target.citus);
  const restrictive = existing.some((p) => p.permissive);
  const out: string[] = [];
  out.push(`ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY;`);
  out.push(`ALTER TABLE ${table} FORCE ROW LEVEL SECURITY;`);
  out.push('');
  if (restrictive) {
    out.push(
      `-- The table already had permissive policies (kept below as they were): the tenant policy is`,
      `-- RESTRICTIVE, so none of them can widen what the application roles see.`,
    );
  }
  const as = `AS ${restrictive ? 'RESTRICTIVE' : 'PERMISSIVE'}`;
  const to = `TO ${roleList(target.appRoles)}`;
  if (target.sharedRows) {
    const names = SHARED_ROWS_POLICIES;
    const shared = `${predicate} OR ${ident(target.column)} IS NULL`;
    out.push(`DROP POLICY IF EXISTS ${ident(TENANT_POLICY)} ON ${table};`);
    for (const name of Object.values(names)) out.push(`DROP POLICY IF EXISTS ${ident(name)} ON ${table};`);
    out.push(
      `CREATE POLICY ${ident(names.SELECT)} ON ${table} ${as} FOR SELECT ${to}`,
      `  USING (${shared});`,
      `CREATE POLICY ${ident(names.INSERT)} ON ${table} ${as} FOR INSERT ${to}`,
      `  WITH CHECK (${predicate});`,
      `CREATE POLICY ${ident(names.UPDATE)} ON ${table} ${as} FOR UPDATE ${to}`,
      `  USING (${predicate})`,
      `  WITH CHECK (${predicate});`,
      `CREATE POLICY ${ident(names.DELETE)} ON ${table} ${as} FOR DELETE ${to}`,
      `  USING (${predicate});`,
    );
  } else {
    // The per-command policies of a table that was shared_rows before: gone, or they would widen reads.
    for (const name of Object.values(SHARED_ROWS_POLICIES)) out.push(`DROP POLICY IF EXISTS ${ident(name)} ON ${table};`);
    out.push(`DROP POLICY IF EXISTS ${ident(TENANT_POLICY)} ON ${table};`);
    out.push(
      `CREATE POLICY ${ident(TENANT_POLICY)} ON ${table} ${as} FOR ALL ${to}`,
      `  USING (${predicate})`,
      `  WITH CHECK (${predicate});`,
    );
  }
  for (const policy of existing) {
    out.push('', `-- Kept from before (review it: it applies together with the tenant policy).`, recreatePolicy(schema, name, policy));
  }
  for (const { role, reason } of target.bypass) {
    const policy = bypassPolicyName(role);
    out.push(
      '',
      `-- Bypass role ${commentName(role)}: ${commentText(reason)}. Read-only; widen it here if the role must write.`,
      `DROP POLICY IF EXISTS ${ident(policy)} ON ${table};`,
      `CREATE POLICY ${ident(policy)} ON ${table} AS PERMISSIVE FOR SELECT TO ${ident(role)} USING (true);`,
    );
  }
  return out;
}

// The tenant-setting-default probe: no role- or database-level default for the tenant setting, and a fresh login sees it unset.
import pg from 'pg';
import type { Finding } from './role-probes.js';
import type { ProbeEnv } from './verify-types.js';

/**
 * `tenant-setting-default`: `ALTER ROLE … [IN DATABASE …] SET` or `ALTER DATABASE … SET` of the
 * tenant setting gives every login that sets nothing a tenant (verify's own SET ROLE never sees a
 * role-level default: those apply only at login). Then, when the role can log in, a fresh login
 * as it (same server and database, its own user name) must see the setting unset; a login that
 * fails (a password we do not have) is skipped quietly.
 */
export async function tenantSettingDefault(env: ProbeEnv): Promise<Finding[]> {
  const { role } = env;
  const setting = env.manifest.tenant.setting;
  const { rows } = await env.client.query<{ scope: string; config: string; reset: string }>(
    `SELECT CASE WHEN s.setrole = 0 AND s.setdatabase = 0 THEN 'every role in every database'
                 WHEN s.setrole = 0 THEN 'database ' || d.datname
                 WHEN s.setdatabase = 0 THEN 'role ' || r.rolname
                 ELSE 'role ' || r.rolname || ' in database ' || d.datname END AS scope,
            cfg AS config,
            CASE WHEN s.setrole = 0 AND s.setdatabase = 0 THEN 'ALTER ROLE ALL'
                 WHEN s.setrole = 0 THEN 'ALTER DATABASE ' || quote_ident(d.datname)
                 WHEN s.setdatabase = 0 THEN 'ALTER ROLE ' || quote_ident(r.rolname)
                 ELSE 'ALTER ROLE ' || quote_ident(r.rolname) || ' IN DATABASE ' || quote_ident(d.datname) END || ' RESET ' || $2 AS reset
       FROM pg_catalog.pg_db_role_setting s
       LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.setrole
       LEFT JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase
      CROSS JOIN LATERAL unnest(s.setconfig) cfg
      WHERE (s.setrole = 0 OR r.rolname = $1) AND (s.setdatabase = 0 OR d.datname = current_database())
        AND lower(split_part(cfg, '=', 1)) = lower($2) AND substr(cfg, length(split_part(cfg, '=', 1)) + 2) <> ''
      ORDER BY 1`,
    [role, setting],
  );
  const findings: Finding[] = rows.map((r) => ({
    table: r.scope,
    status: 'fail',
    detail: `${r.scope} sets ${r.config}: a login as ${role} that sets no tenant gets one; ${r.reset};`,
  }));
  const login = await loginSetting(env);
  if (login.value) {
    findings.push({ table: `login as ${role}`, status: 'fail', detail: `a fresh login as ${role} sees ${setting} = '${login.value}' before it sets a tenant` });
  }
  if (findings.length > 0) return findings;
  return [{ table: setting, status: 'pass', detail: `no role or database default for ${setting}; ${login.note}` }];
}

/** Logs in as the role (when it may) and reads the setting; `value` is set only when the login saw one. */
async function loginSetting(env: ProbeEnv): Promise<{ value?: string; note: string }> {
  const { role } = env;
  const canLogin = await env.client.query<{ login: boolean }>(`SELECT rolcanlogin AS login FROM pg_catalog.pg_roles WHERE rolname = $1`, [role]);
  if (!canLogin.rows[0]?.login) return { note: `${role} cannot log in (NOLOGIN): no login tried` };
  // The same server and database as verify's own connection, as the application role.
  const own = env.client as Partial<pg.Client>;
  if (!own.host || !own.database) return { note: 'login not tried (the connection does not say where it goes)' };
  const client = new pg.Client({
    host: own.host,
    port: own.port,
    database: own.database,
    user: role,
    password: typeof own.password === 'string' ? own.password : undefined,
    ssl: (own as { ssl?: pg.ClientConfig['ssl'] }).ssl,
    application_name: 'crm-tenancy verify (login probe)',
    connectionTimeoutMillis: 5_000,
  });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch {
    await client.end().catch(() => {});
    return { note: `logging in as ${role} failed: login not checked` };
  }
  try {
    const { rows } = await client.query<{ value: string | null }>(`SELECT pg_catalog.current_setting($1, true) AS value`, [env.manifest.tenant.setting]);
    const value = rows[0]?.value;
    return value ? { value, note: '' } : { note: `a fresh login as ${role} sees it unset` };
  } finally {
    await client.end().catch(() => {});
  }
}

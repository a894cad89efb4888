// Citus at run time: is this a coordinator, and does a login as the application role forward SET LOCAL to the workers?
import type pg from 'pg';
import { ident, literal } from '../db/quote.js';

/** The setting that makes Citus forward `SET LOCAL` commands to the workers a transaction uses. */
export const PROPAGATION_SETTING = 'citus.propagate_set_commands';

export interface CitusFacts {
  /** `citus_version()`'s first words, e.g. `Citus 13.2.2`. */
  version: string;
}

/**
 * The Citus facts when the connection is a Citus coordinator (the extension is installed and
 * `citus_is_coordinator()` says so), else undefined. Two catalog reads; no error on plain PostgreSQL.
 */
export async function citusCoordinator(client: pg.ClientBase): Promise<CitusFacts | undefined> {
  const ext = await client.query(`SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus'`);
  if (ext.rowCount === 0) return undefined;
  const { rows } = await client.query<{ coordinator: boolean; version: string }>(
    `SELECT citus_is_coordinator() AS coordinator, split_part(citus_version(), ' ', 1) || ' ' || split_part(citus_version(), ' ', 2) AS version`,
  );
  return rows[0]?.coordinator ? { version: rows[0].version } : undefined;
}

export interface PropagationSetting {
  role: string;
  database: string;
  /** What a fresh login as the role in this database gets. */
  value: string;
  /** Where it comes from: `role … in database …`, `role …`, `database …`, or `server` (postgresql.conf, ALTER SYSTEM or the default). */
  source: string;
  ok: boolean;
  /** The statement that makes it right (when not ok). */
  fix?: string;
}

/**
 * `citus.propagate_set_commands` as a login as `role` in the current database gets it, by the
 * precedence PostgreSQL applies at login: ALTER ROLE … IN DATABASE … SET, then ALTER ROLE … SET,
 * then ALTER DATABASE … SET, then the server's own value (postgresql.conf / ALTER SYSTEM, read
 * from pg_file_settings when the connection may, else the built-in default `none`). Call it outside a
 * transaction.
 */
export async function propagationFor(client: pg.ClientBase, role: string): Promise<PropagationSetting> {
  const { rows } = await client.query<{ value: string; source: string; database: string }>(
    `SELECT substr(cfg, length(split_part(cfg, '=', 1)) + 2) AS value,
            CASE WHEN s.setrole <> 0 AND s.setdatabase <> 0 THEN 'role ' || r.rolname || ' in database ' || d.datname
                 WHEN s.setrole <> 0 THEN 'role ' || r.rolname
                 WHEN s.setdatabase <> 0 THEN 'database ' || d.datname
                 ELSE 'every role in every database' END AS source,
            current_database() AS database
       FROM pg_catalog.pg_db_role_setting s
       LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.setrole
       LEFT JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase
      CROSS JOIN LATERAL unnest(s.setconfig) cfg
      WHERE (s.setrole = 0 OR r.rolname = $1) AND (s.setdatabase = 0 OR d.datname = current_database())
        AND lower(split_part(cfg, '=', 1)) = $2
      ORDER BY (s.setrole <> 0) DESC, (s.setdatabase <> 0) DESC
      LIMIT 1`,
    [role, PROPAGATION_SETTING],
  );
  const database = rows[0]?.database ?? (await client.query<{ d: string }>(`SELECT current_database() AS d`)).rows[0].d;
  const found = rows[0] ?? { value: await serverValue(client), source: 'server', database };
  const ok = found.value.toLowerCase() === 'local';
  return {
    role,
    database,
    value: found.value,
    source: found.source,
    ok,
    fix: ok ? undefined : `ALTER ROLE ${ident(role)} IN DATABASE ${ident(database)} SET ${PROPAGATION_SETTING} = ${literal('local')};`,
  };
}

/** The server-wide value (configuration files, ALTER SYSTEM), else the built-in default. Not inside a transaction (an error is caught). */
async function serverValue(client: pg.ClientBase): Promise<string> {
  const file = await client
    .query<{ setting: string }>(`SELECT setting FROM pg_catalog.pg_file_settings WHERE name = $1 AND applied ORDER BY seqno DESC LIMIT 1`, [
      PROPAGATION_SETTING,
    ])
    // pg_file_settings is for superusers and pg_read_all_settings only: then the built-in default.
    .catch(() => ({ rows: [] as { setting: string }[] }));
  if (file.rows[0]) return file.rows[0].setting;
  const boot = await client.query<{ v: string }>(`SELECT boot_val AS v FROM pg_catalog.pg_settings WHERE name = $1`, [PROPAGATION_SETTING]);
  return boot.rows[0]?.v ?? 'none';
}

// withTenant: the application-side helper that runs work in a transaction with the tenant set (pooler-safe).
// Imported by applications as `crm-tenancy/tenant`: it must load nothing but itself (kysely only when
// given a Kysely instance), never the toolkit's migration, manifest or YAML code. The one exception is
// src/db/quote.ts (the quoting helper, itself dependency-free), for the Citus form's SET LOCAL.
import type pg from 'pg';
import type { Kysely, Transaction } from 'kysely';
import { ident, literal } from '../db/quote.js';

/** The setting the generated policies read, unless the manifest says otherwise. */
export const DEFAULT_TENANT_SETTING = 'app.current_company_id';

export interface WithTenantOptions {
  /** The custom setting the policies compare with (manifest `tenant.setting`). */
  setting?: string;
  /**
   * The tenant key's type. `integer` (integer, bigint, smallint keys) rejects anything but a whole
   * number, `uuid` anything but a UUID, before a query runs. Default `text`: any non-empty value.
   */
  keyType?: 'integer' | 'uuid' | 'text';
  /**
   * The database is a Citus cluster (tables distributed by the tenant column). The tenant is then set
   * with `SET LOCAL citus.propagate_set_commands = 'local'; SET LOCAL "<setting>" = '<tenant>'`
   * instead of `set_config(…, true)`: Citus forwards SET LOCAL commands to the workers that run the
   * query, never a set_config() call, so with set_config the policies on the shards read no tenant
   * and the role sees 0 rows. SET takes no bind parameter: the tenant is validated (`keyType`) and
   * printed as a quoted literal, the setting as a quoted identifier (src/db/quote.ts). Explicit, not
   * detected: detection would cost a query per transaction. Harmless on plain PostgreSQL. Default false.
   */
  citus?: boolean;
}

export type TenantId = string | number | bigint;

const UUID = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

function isKysely(db: unknown): db is Kysely<any> {
  return (
    typeof db === 'object' &&
    db !== null &&
    typeof (db as { transaction?: unknown }).transaction === 'function' &&
    typeof (db as { selectFrom?: unknown }).selectFrom === 'function'
  );
}

/**
 * The tenant as the text set_config takes, or a TypeError naming what is wrong. `String(null)` is
 * "null": without this check a missing id becomes a tenant named "null" (or a cast error deep in a
 * policy), instead of a clear error at the call site.
 */
export function tenantText(tenantId: unknown, keyType: WithTenantOptions['keyType'] = 'text'): string {
  if (tenantId === null || tenantId === undefined) throw new TypeError(`withTenant: the tenant id is ${tenantId}`);
  let text: string;
  if (typeof tenantId === 'number') {
    if (!Number.isSafeInteger(tenantId)) throw new TypeError(`withTenant: the tenant id ${tenantId} is not a whole number a key can hold exactly`);
    text = String(tenantId);
  } else if (typeof tenantId === 'bigint' || typeof tenantId === 'string') {
    text = String(tenantId);
  } else {
    throw new TypeError(`withTenant: the tenant id must be a string, number or bigint, not ${typeof tenantId}`);
  }
  if (text.trim() === '') throw new TypeError('withTenant: the tenant id must not be empty');
  if (keyType === 'integer' && !/^[+-]?\d+$/.test(text)) throw new TypeError(`withTenant: the tenant key is an integer, not ${JSON.stringify(text)}`);
  if (keyType === 'uuid' && !UUID.test(text)) throw new TypeError(`withTenant: the tenant key is a uuid, not ${JSON.stringify(text)}`);
  return text;
}

/**
 * Runs `fn` in a transaction whose tenant is `tenantId`: BEGIN, `set_config(setting, tenant, true)`
 * (transaction-local, so it dies with COMMIT/ROLLBACK; safe under PgBouncer transaction pooling),
 * fn, COMMIT (ROLLBACK when fn throws). Then, before the connection goes back to the pool, the
 * setting is emptied at session level: a `set_config(…, false)` or an early COMMIT inside fn cannot
 * leave the connection on this tenant for its next user (who sees no tenant: no rows).
 * A null, undefined, empty or (with `keyType`) ill-typed id is a TypeError before any query.
 *
 * @example
 * await withTenant(pool, 42, (client) => client.query('SELECT * FROM deals'));       // pg.Pool
 * await withTenant(db, 42, (trx) => trx.selectFrom('deals').selectAll().execute());  // Kysely
 * // SQL: BEGIN; SELECT set_config('app.current_company_id', '42', true); …; COMMIT;
 * //      SELECT set_config('app.current_company_id', '', false)
 * await withTenant(pool, 42, fn, { citus: true, keyType: 'integer' });             // a Citus cluster
 * // SQL: BEGIN; SET LOCAL citus.propagate_set_commands = 'local';
 * //      SET LOCAL "app.current_company_id" = '42'; …; COMMIT; SELECT set_config(…, '', false)
 */
export function withTenant<T>(
  pool: pg.Pool,
  tenantId: TenantId,
  fn: (client: pg.PoolClient) => Promise<T>,
  options?: WithTenantOptions,
): Promise<T>;
export function withTenant<DB, T>(
  db: Kysely<DB>,
  tenantId: TenantId,
  fn: (trx: Transaction<DB>) => Promise<T>,
  options?: WithTenantOptions,
): Promise<T>;
export async function withTenant<T>(
  db: pg.Pool | Kysely<any>,
  tenantId: TenantId,
  fn: (handle: any) => Promise<T>,
  options: WithTenantOptions = {},
): Promise<T> {
  const setting = options.setting ?? DEFAULT_TENANT_SETTING;
  const tenant = tenantText(tenantId, options.keyType);
  const setSql = options.citus ? citusSetSql(setting, tenant) : undefined;
  if (isKysely(db)) return withKysely(db, setting, tenant, fn, setSql);
  const client = await (db as pg.Pool).connect();
  // Set when the connection is in an unknown state: the pool then destroys it instead of reusing it.
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    try {
      if (setSql) for (const statement of setSql) await client.query(statement);
      else await client.query('SELECT set_config($1, $2, true)', [setting, tenant]);
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((e: Error) => {
        broken = e;
      });
      throw error;
    }
  } finally {
    if (!broken) {
      await client.query(`SELECT set_config($1, '', false)`, [setting]).catch((e: Error) => {
        broken = e;
      });
    }
    client.release(broken);
  }
}

/**
 * The Citus form (see WithTenantOptions.citus): the two transaction-local SET commands, the setting
 * quoted as an identifier and the tenant as a literal (SET cannot take a parameter).
 *
 * @example citusSetSql('app.current_company_id', "o'brien")
 * // => [`SET LOCAL citus.propagate_set_commands = 'local'`, `SET LOCAL "app.current_company_id" = 'o''brien'`]
 */
export function citusSetSql(setting: string, tenant: string): [string, string] {
  return [`SET LOCAL citus.propagate_set_commands = 'local'`, `SET LOCAL ${ident(setting)} = ${literal(tenant)}`];
}

/** The Kysely path: one connection for the transaction and the reset after it. */
async function withKysely<T>(
  db: Kysely<any>,
  setting: string,
  tenant: string,
  fn: (trx: Transaction<any>) => Promise<T>,
  setSql?: string[],
): Promise<T> {
  // Loaded here so that pg.Pool users never load kysely.
  const { sql } = await import('kysely');
  return db.connection().execute(async (conn) => {
    try {
      return await conn.transaction().execute(async (trx) => {
        if (setSql) for (const statement of setSql) await sql.raw(statement).execute(trx);
        else await sql`SELECT set_config(${setting}, ${tenant}, true)`.execute(trx);
        return fn(trx);
      });
    } finally {
      // Kysely cannot discard a connection: if this fails the error propagates, so the caller knows.
      await sql`SELECT set_config(${setting}, '', false)`.execute(conn);
    }
  });
}

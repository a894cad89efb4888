// withTenant: the application-side helper that runs work in a transaction with the tenant set (pooler-safe).
import type pg from 'pg';
import { sql, type Kysely, type Transaction } from 'kysely';

/** The setting the generated policies read, unless the manifest says otherwise. */
export const DEFAULT_TENANT_SETTING = 'app.current_company_id';

export interface WithTenantOptions {
  /** The custom setting the policies compare with (manifest `tenant.setting`). */
  setting?: string;
}

function isKysely(db: unknown): db is Kysely<any> {
  return (
    typeof db === 'object' &&
    db !== null &&
    typeof (db as { transaction?: unknown }).transaction === 'function' &&
    typeof (db as { selectFrom?: unknown }).selectFrom === 'function'
  );
}

function tenantText(tenantId: string | number | bigint): string {
  const text = String(tenantId);
  if (text === '') throw new TypeError('withTenant: the tenant id must not be empty');
  return text;
}

/**
 * Runs `fn` in a transaction whose tenant is `tenantId`: BEGIN, `set_config(setting, tenant, true)`
 * (transaction-local, so it dies with COMMIT/ROLLBACK and never leaks to the next user of a pooled
 * connection; safe under PgBouncer transaction pooling), fn, COMMIT (ROLLBACK when fn throws).
 *
 * @example
 * await withTenant(pool, 42, (client) => client.query('SELECT * FROM deals'));       // pg.Pool
 * await withTenant(db, 42, (trx) => trx.selectFrom('deals').selectAll().execute());  // Kysely
 * // SQL: BEGIN; SELECT set_config('app.current_company_id', '42', true); …; COMMIT
 */
export function withTenant<T>(
  pool: pg.Pool,
  tenantId: string | number | bigint,
  fn: (client: pg.PoolClient) => Promise<T>,
  options?: WithTenantOptions,
): Promise<T>;
export function withTenant<DB, T>(
  db: Kysely<DB>,
  tenantId: string | number | bigint,
  fn: (trx: Transaction<DB>) => Promise<T>,
  options?: WithTenantOptions,
): Promise<T>;
export async function withTenant<T>(
  db: pg.Pool | Kysely<any>,
  tenantId: string | number | bigint,
  fn: (handle: any) => Promise<T>,
  options: WithTenantOptions = {},
): Promise<T> {
  const setting = options.setting ?? DEFAULT_TENANT_SETTING;
  const tenant = tenantText(tenantId);
  if (isKysely(db)) {
    return db.transaction().execute(async (trx) => {
      await sql`SELECT set_config(${setting}, ${tenant}, true)`.execute(trx);
      return fn(trx);
    });
  }
  const client = await (db as pg.Pool).connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    try {
      await client.query('SELECT set_config($1, $2, true)', [setting, tenant]);
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
    // A connection whose ROLLBACK failed is in an unknown state: destroy it rather than reuse it.
    client.release(broken);
  }
}

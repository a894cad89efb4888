// Resolves one duplicate group in one transaction (lock, re-check, archive, re-point, delete) and returns its outcome.
import type pg from 'pg';
import type { CatalogTable } from '../db/catalog.js';
import { ident, qualified } from '../db/quote.js';
import { retryTransaction, withTransaction } from '../db/transaction.js';
import { keyJson, keyMatchesJson, type KeyColumn, type RowKey } from '../db/table-keys.js';
import { isPgServerError } from '../errors.js';
import type { Logger } from '../logger.js';
import { constrainedRows, type EntityColumn, type KeySpec } from './find-duplicate-groups.js';
import type { IncomingForeignKey } from './incoming-keys.js';
import { repointReferences, type RepointCount } from './repoint-references.js';

/** What became of one group. */
export interface GroupOutcome {
  status: 'resolved' | 'refused' | 'skipped';
  /** Why a group was refused or skipped. */
  reason?: string;
  /** References moved to the kept row ([] unless resolved). */
  repointed: RepointCount[];
}

/** Everything about the table and key a group belongs to, the same for all of its groups. */
export interface GroupContext {
  client: pg.Client;
  stateSchema: string;
  runId: string;
  rel: CatalogTable;
  key: KeyColumn[];
  spec: KeySpec;
  entity: EntityColumn[];
  tenantColumn: string;
  /** Foreign keys into the table (the bookkeeping schema's left out). */
  incoming: IncomingForeignKey[];
  lockTimeoutMs: number;
  logger: Logger;
}

/** A constraint of a referencing table broken by the re-point: the group is refused, not the run. */
const REFUSE_CODES = new Set(['23505', '23503', '23514', '23502', '23P01']);

class RefusedGroup extends Error {}

const CHANGED: GroupOutcome = { status: 'skipped', reason: 'rows changed while dedupe ran; run it again', repointed: [] };

/**
 * Keeps `kept`, archives then deletes `removed`, re-points their references — atomically. The rows are
 * locked and checked again first (still there, still constrained by the key, still equal in tenant, key
 * and entity columns); a group that changed since it was found is skipped and found again next run.
 */
export async function resolveGroup(ctx: GroupContext, kept: RowKey, removed: RowKey[]): Promise<GroupOutcome> {
  const { client, rel, key } = ctx;
  const table = qualified(rel.schema, rel.name);
  try {
    return await retryTransaction(
      () =>
        withTransaction(
          client,
          async (tx): Promise<GroupOutcome> => {
            // Each group is atomic: a crash loses whole groups (found again by the next run), never half
            // of one, so waiting for the WAL flush of every group buys nothing.
            await tx.query(`SET LOCAL synchronous_commit = off`);
            if (!(await stillOneGroup(tx, ctx, [kept, ...removed]))) return CHANGED;
            for (const fk of ctx.incoming) {
              if (!fk.primaryKey) {
                throw new RefusedGroup(`${fk.schema}.${fk.table} references ${rel.name} but has no primary key; its re-points could not be recorded`);
              }
            }
            for (const r of removed) {
              await tx.query(
                `INSERT INTO ${qualified(ctx.stateSchema, 'dedupe_archive')} (run_id, table_schema, table_name, key, kept_key, row_data)
                 SELECT $1, $2, $3, ${keyJson('t', key)}, $4::jsonb, to_jsonb(t) FROM ${table} t WHERE ${keyMatchesJson('t', key, '$5::jsonb')}`,
                [ctx.runId, rel.schema, rel.name, JSON.stringify(kept), JSON.stringify(r)],
              );
            }
            const repointed = await repointReferences(tx, ctx.stateSchema, ctx.runId, rel, key, ctx.incoming, kept, removed);
            for (const r of removed) {
              await tx.query(`DELETE FROM ${table} t WHERE ${keyMatchesJson('t', key, '$1::jsonb')}`, [JSON.stringify(r)]);
            }
            return { status: 'resolved', repointed };
          },
          { lockTimeoutMs: ctx.lockTimeoutMs },
        ),
      { logger: ctx.logger, label: `dedupe ${rel.name} ${JSON.stringify(kept)}` },
    );
  } catch (error) {
    if (error instanceof RefusedGroup) return { status: 'refused', reason: error.message, repointed: [] };
    if (isPgServerError(error) && REFUSE_CODES.has(error.code)) {
      return { status: 'refused', reason: `${error.message} (SQLSTATE ${error.code})`, repointed: [] };
    }
    throw error;
  }
}

/**
 * Locks the group's rows (FOR UPDATE) and tells whether they still form the group that was found:
 * all present, all constrained by the key (its predicate included), equal in tenant, key columns and
 * entity columns (compared as text, as when found).
 */
async function stillOneGroup(tx: pg.ClientBase, ctx: GroupContext, rows: RowKey[]): Promise<boolean> {
  const identity = [ctx.tenantColumn, ...ctx.spec.columns, ...ctx.entity.map((e) => e.column)].map((c) => `t.${ident(c)}::text`);
  const { rows: locked } = await tx.query<{ constrained: boolean; identity: unknown[] }>(
    `SELECT coalesce(${constrainedRows(ctx.spec, ctx.tenantColumn)}, false) AS constrained, jsonb_build_array(${identity.join(', ')}) AS identity
       FROM ${qualified(ctx.rel.schema, ctx.rel.name)} t
      WHERE ${rows.map((_, i) => `(${keyMatchesJson('t', ctx.key, `$${i + 1}::jsonb`)})`).join(' OR ')}
        FOR UPDATE`,
    rows.map((k) => JSON.stringify(k)),
  );
  if (locked.length !== rows.length || locked.some((r) => !r.constrained)) return false;
  const first = JSON.stringify(locked[0].identity);
  return locked.every((r) => JSON.stringify(r.identity) === first);
}

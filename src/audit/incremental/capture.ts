// Reads, in the audit's own snapshot, what identifies it for a later `audit --since`: the cluster, database, timeline, snapshot, and a fingerprint of each table's catalog.
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Manifest } from '../../config/manifest.js';
import { regclassText } from '../../db/quote.js';
import type { CheckDefinition } from '../types.js';
import type { AuditSnapshot } from './types.js';

const CONTROL_FUNCTIONS = ['pg_control_system()', 'pg_control_checkpoint()', 'pg_current_wal_lsn()', 'pg_last_wal_replay_lsn()'];

export type SnapshotIdentity = Omit<AuditSnapshot, 'global' | 'tables' | 'units'>;

/**
 * The cluster, database, timeline, WAL position and the snapshot of the transaction `client` is in.
 * `unusable` when the audit does not own that snapshot: inside a caller's transaction (its own
 * uncommitted rows, rewritten later with the same xid, would look old) or at READ COMMITTED (a
 * snapshot per statement, not one for the whole audit).
 */
export async function readIdentity(client: pg.ClientBase): Promise<SnapshotIdentity> {
  // Executable by PUBLIC by default, but revocable: asked first, since a denied call would abort the audit's transaction.
  const allowed = await client.query<{ ok: boolean }>(
    `SELECT ${CONTROL_FUNCTIONS.map((f) => `pg_catalog.has_function_privilege('pg_catalog.${f}', 'execute')`).join(' AND ')} AS ok`,
  );
  if (!allowed.rows[0].ok) {
    return {
      format: 1,
      system: '',
      database: '',
      timeline: 0,
      lsn: '0/0',
      xmin: '0',
      xmax: '0',
      xip: [],
      unusable: `the auditor may not call ${CONTROL_FUNCTIONS.join(', ')} (GRANT EXECUTE on them, as PostgreSQL does by default)`,
    };
  }
  const { rows } = await client.query<Omit<SnapshotIdentity, 'format' | 'unusable'> & { own: boolean }>(
    `SELECT s.system_identifier::text AS system, d.oid::text AS database, c.timeline_id AS timeline,
            (CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn() ELSE pg_catalog.pg_current_wal_lsn() END)::text AS lsn,
            pg_catalog.pg_snapshot_xmin(x.s)::text AS xmin, pg_catalog.pg_snapshot_xmax(x.s)::text AS xmax,
            ARRAY(SELECT pg_catalog.pg_snapshot_xip(x.s)::text) AS xip,
            pg_catalog.pg_current_xact_id_if_assigned() IS NULL AND pg_catalog.current_setting('transaction_isolation') <> 'read committed' AS own
       FROM pg_catalog.pg_control_system() s, pg_catalog.pg_control_checkpoint() c, pg_catalog.pg_database d,
            (SELECT pg_catalog.pg_current_snapshot() AS s) x
      WHERE d.datname = pg_catalog.current_database()`,
  );
  const { own, ...identity } = rows[0];
  return {
    format: 1,
    ...identity,
    ...(own ? {} : { unusable: 'the audit ran inside a caller\u2019s transaction (or at READ COMMITTED), not in a snapshot of its own' }),
  };
}

/**
 * Per table: its relfilenode (VACUUM FULL, CLUSTER, TRUNCATE and rewriting ALTERs give a new one)
 * and a hash of what the data checks depend on: kind, columns (name, type, typmod, collation, NOT
 * NULL, dropped, generated, a missing-value default), constraints (definition, validated), indexes
 * (definition, valid, ready), triggers (definition, enabled: a trigger that rewrites rows on INSERT
 * changes nothing here, but one disabled lets rows skip a check the catalog proved), and every
 * partition or inheritance child with its own relfilenode (ATTACH PARTITION brings in old rows).
 */
export async function readTableFingerprints(client: pg.ClientBase, schema: string, tables: string[]): Promise<AuditSnapshot['tables']> {
  const { rows } = await client.query<{ name: string; relfilenode: string; catalog: string }>(
    `WITH RECURSIVE r AS (
       SELECT n.name, c.oid FROM unnest($1::text[], $2::text[]) AS n(name, reg) JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(n.reg)
     ), tree AS (
       SELECT r.name, r.oid AS rel, 0 AS depth FROM r
       UNION ALL
       SELECT tree.name, i.inhrelid, tree.depth + 1 FROM tree JOIN pg_catalog.pg_inherits i ON i.inhparent = tree.rel
     )
     SELECT r.name, c.relfilenode::text AS relfilenode,
            md5(concat_ws(E'\\n', c.relkind::text, c.relpersistence::text,
              (SELECT string_agg(concat_ws(':', a.attnum, a.attname, a.atttypid, a.atttypmod, a.attcollation, a.attnotnull, a.attisdropped, a.attgenerated, a.atthasmissing), ',' ORDER BY a.attnum)
                 FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0),
              (SELECT string_agg(concat_ws(':', co.conname, pg_catalog.pg_get_constraintdef(co.oid), co.convalidated), ',' ORDER BY co.conname, co.oid)
                 FROM pg_catalog.pg_constraint co WHERE co.conrelid = c.oid),
              (SELECT string_agg(concat_ws(':', pg_catalog.pg_get_indexdef(i.indexrelid), i.indisvalid, i.indisready), ',' ORDER BY 1)
                 FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid),
              (SELECT string_agg(concat_ws(':', g.tgname, g.tgenabled, pg_catalog.pg_get_triggerdef(g.oid)), ',' ORDER BY g.tgname)
                 FROM pg_catalog.pg_trigger g WHERE g.tgrelid = c.oid),
              (SELECT string_agg(concat_ws(':', t.rel, k.relkind, k.relfilenode), ',' ORDER BY t.rel)
                 FROM tree t JOIN pg_catalog.pg_class k ON k.oid = t.rel WHERE t.name = r.name AND t.depth > 0))) AS catalog
       FROM r JOIN pg_catalog.pg_class c ON c.oid = r.oid`,
    [tables, tables.map((t) => regclassText(schema, t))],
  );
  return Object.fromEntries(rows.map((r) => [`${schema}.${r.name}`, { relfilenode: r.relfilenode, catalog: r.catalog }]));
}

/** What every data check depends on beyond the tables: the manifest's scoping, the data checks' SQL, the server's major version. */
export function globalFingerprint(manifest: Manifest, checks: readonly CheckDefinition[], serverVersionNum: number): string {
  const scoping = {
    schema: manifest.schema,
    tenant: manifest.tenant,
    tables: manifest.tables.map((t) => ({ name: t.name, unique: t.unique, singleton: t.singleton, sharedRows: t.sharedRows, polymorphic: t.polymorphic })),
    major: Math.floor(serverVersionNum / 10000),
    data: checks.filter((c) => c.kind === 'data').map((c) => [c.id, c.sections]),
  };
  return createHash('sha256').update(JSON.stringify(scoping)).digest('hex').slice(0, 32);
}

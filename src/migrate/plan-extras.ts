// Reads what the plan needs beyond the catalog snapshot: the triggers on scoped tables and their
// functions' source (polymorphic and shared-ref enforcement already installed, and whether it is the
// current one) and the views over scoped tables app roles can read. generate passes the result to
// planTenancy.
import type { LiveContext } from '../config/live-context.js';
import type { Queryable } from '../db/connection.js';
import type { PlanExtras } from './plan-polymorphic.js';
import { readExposedViews } from './plan-views.js';

/** @example planTenancy(live, pending, await readPlanExtras(db, live)) */
export async function readPlanExtras(db: Queryable, live: LiveContext): Promise<PlanExtras> {
  const { manifest } = live;
  const r = await db.query<{ rel: string; name: string; src: string }>(
    `SELECT c.relname AS rel, t.tgname AS name, f.prosrc AS src
       FROM pg_catalog.pg_trigger t
       JOIN pg_catalog.pg_proc f ON f.oid = t.tgfoid
       JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = ANY($2::text[]) AND NOT t.tgisinternal
      ORDER BY 1, 2`,
    [manifest.schema, manifest.tables.map((t) => t.name)],
  );
  // Partition keys of partitioned scoped tables (null: an expression is part of it).
  const k = await db.query<{ rel: string; cols: string[] | null }>(
    `SELECT c.relname AS rel,
            CASE WHEN 0 = ANY(p.partattrs::int2[]) THEN NULL
                 ELSE array(SELECT a.attname::text FROM unnest(p.partattrs::int2[]) n JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = n)
            END AS cols
       FROM pg_catalog.pg_partitioned_table p
       JOIN pg_catalog.pg_class c ON c.oid = p.partrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = ANY($2::text[])`,
    [manifest.schema, manifest.tables.map((t) => t.name)],
  );
  return {
    triggers: new Set(r.rows.map((row) => `${row.rel}\u0000${row.name}`)),
    triggerSources: new Map(r.rows.map((row) => [`${row.rel}\u0000${row.name}`, row.src])),
    views: await readExposedViews(db, live),
    partitionKeys: new Map(k.rows.map((row) => [row.rel, row.cols])),
  };
}

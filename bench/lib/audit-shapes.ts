// The audit benchmark's generated databases: one per shape and row count, built set-based
// (INSERT … SELECT generate_series, indexes and keys after the load) and kept between runs.
import pg from 'pg';
import { ident, qualified } from '../../src/db/quote.js';

export const SHAPE_SCHEMA = 'bench';
export const TENANTS = 1000;
/** Bump when the generator changes: cached databases of another version are rebuilt. */
const GENERATOR_VERSION = 4;

interface TableSpec {
  name: string;
  /** Share of the shape's rows. */
  share: number;
  /** FK columns and the table they reference (by id). */
  fks: { column: string; parent: string }[];
  /** ~1 kB of text per row. */
  wide?: boolean;
  /** An `email` column with a manifest unique key and no unique index (duplicate-within-tenant scans it). */
  email?: boolean;
}

export interface ShapeSpec {
  name: string;
  title: string;
  tables: TableSpec[];
  /**
   * Bad rows of the largest table (the last one): `few` — a cross-tenant reference and a NULL
   * tenant at its start, middle and end; `dense` — 10 % cross-tenant, 1 % NULL; `early` — 4
   * cross-tenant rows and 2 NULLs in the first thousand rows (the held-out shape).
   */
  bad: 'few' | 'dense' | 'early';
  /** Everything the catalog can prove is proven: composite validated FKs, NOT NULL, tenant FKs, unique indexes. */
  proven?: boolean;
  /**
   * Keys with gaps, as hard deletes leave them: row g's id is g + g / 19 (one id in 20 missing), and
   * every FK names an existing row. The audit's direct lookups need gap-free keys or a small span
   * (src/audit/direct-lookup.ts), so this shape measures the joins they fall back to.
   */
  gaps?: boolean;
}

const chain = (wide = false): TableSpec[] => [
  { name: 't1', share: 0.1, fks: [], wide, email: true },
  { name: 't2', share: 0.2, fks: [{ column: 't1_id', parent: 't1' }], wide },
  { name: 't3', share: 0.3, fks: [{ column: 't2_id', parent: 't2' }], wide },
  { name: 't4', share: 0.4, fks: [{ column: 't3_id', parent: 't3' }], wide },
];

const crm: TableSpec[] = [
  { name: 'users', share: 0.01, fks: [], email: true },
  { name: 'contacts', share: 0.19, fks: [{ column: 'owner_id', parent: 'users' }] },
  {
    name: 'deals',
    share: 0.3,
    fks: [
      { column: 'owner_id', parent: 'users' },
      { column: 'creator_id', parent: 'users' },
      { column: 'closer_id', parent: 'users' },
      { column: 'contact_id', parent: 'contacts' },
    ],
  },
  {
    name: 'activities',
    share: 0.5,
    fks: [
      { column: 'user_id', parent: 'users' },
      { column: 'assignee_id', parent: 'users' },
      { column: 'contact_id', parent: 'contacts' },
      { column: 'deal_id', parent: 'deals' },
    ],
  },
];

export const SHAPES: ShapeSpec[] = [
  { name: 'many-fks', title: '(a) many FKs into one parent', tables: crm, bad: 'early' },
  { name: 'chain', title: '(b) one FK per parent, chain of 4', tables: chain(), bad: 'early' },
  { name: 'few-bad', title: '(c) 1-4 bad rows at start, middle, end', tables: chain(), bad: 'few' },
  { name: 'dense-bad', title: '(d) 10 % bad rows', tables: chain(), bad: 'dense' },
  { name: 'wide', title: '(e) wide rows (~1 kB)', tables: chain(true), bad: 'early' },
  { name: 'gaps', title: '(f) keys with gaps (1 id in 20)', tables: chain(), bad: 'early', gaps: true },
];

export const PROVEN_SHAPE: ShapeSpec = { name: 'proven', title: 'fully proven (finished rollout)', tables: crm, bad: 'early', proven: true };

/** Row counts per table for `rows` in all. */
export function tableRows(shape: ShapeSpec, rows: number): Map<string, number> {
  return new Map(shape.tables.map((t) => [t.name, Math.max(10, Math.round(rows * t.share))]));
}

/** The tenant of row g of a table: (g % 1000) + 1. A child row agrees with its parent unless planted bad. */
const tenantOf = (g: string) => `((${g}) % ${TENANTS} + 1)`;

/** A spread of child row g over the parent's rows (k: the FK's rank). */
const parentOf = (g: string, k: number, parentRows: number) => `((${g}) * ${7919 + 2 * k} % ${parentRows} + 1)`;

export function shapeDatabaseName(shape: ShapeSpec, rows: number): string {
  return `crmt_bench_${shape.name.replace(/-/g, '_')}_${rows}_v${GENERATOR_VERSION}`;
}

/** The manifest (as a JSON/YAML document) of a generated shape. */
export function shapeManifestDocument(shape: ShapeSpec, appRole: string): Record<string, unknown> {
  const tables: Record<string, object> = {};
  for (const t of shape.tables) tables[t.name] = t.email ? { unique: [['email']] } : {};
  return {
    schema: SHAPE_SCHEMA,
    state_schema: 'bench_state',
    tenant: { table: 'tenants', key: 'id', column: 'tenant_id', setting: 'app.tenant_id', composite_keys: shape.proven === true },
    roles: { app: [appRole] },
    tables,
  };
}

/**
 * The bad rows of the largest table: a list of row numbers whose first FK points at another
 * tenant's parent, and of rows whose tenant is NULL (SQL boolean expressions over g).
 */
function plantedBad(shape: ShapeSpec, n: number): { cross: string; nulls: string } {
  const mid = Math.floor(n / 2);
  if (shape.bad === 'few') return { cross: `g IN (1, ${mid}, ${n})`, nulls: `g IN (2, ${mid + 1}, ${n - 1})` };
  if (shape.bad === 'dense') return { cross: `g % 10 = 3`, nulls: `g % 100 = 7` };
  return { cross: `g IN (11, 222, 333, 444)`, nulls: `g IN (555, 666)` };
}

/**
 * Creates (or finds, already complete, from an earlier run) the database of `shape` at `rows`
 * rows. Returns its URL and whether it was built now. Tables are UNLOGGED: nothing the audit reads
 * depends on it, and the load writes no WAL.
 */
export async function ensureShapeDatabase(
  adminUrl: string,
  shape: ShapeSpec,
  rows: number,
  log: (line: string) => void,
): Promise<{ url: string; built: boolean; ms: number }> {
  const name = shapeDatabaseName(shape, rows);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const exists = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
    if (exists) {
      const db = new pg.Client({ connectionString: url.toString() });
      await db.connect();
      try {
        const done = await db.query(`SELECT 1 FROM pg_class WHERE relname = 'bench_complete' AND relnamespace = 'public'::regnamespace`);
        // UNLOGGED tables come back empty after a crash: check that the rows are still there.
        if (done.rowCount === 1 && (await db.query(`SELECT EXISTS (SELECT 1 FROM ${qualified(SHAPE_SCHEMA, shape.tables.at(-1)!.name)}) AS e`)).rows[0].e) {
          return { url: url.toString(), built: false, ms: 0 };
        }
      } finally {
        await db.end();
      }
      await admin.query(`DROP DATABASE ${ident(name)} WITH (FORCE)`);
    }
    const t0 = Date.now();
    await admin.query(`CREATE DATABASE ${ident(name)}`);
    const db = new pg.Client({ connectionString: url.toString() });
    await db.connect();
    try {
      await buildShape(db, shape, rows, log);
      await db.query('CREATE TABLE public.bench_complete ()');
    } finally {
      await db.end();
    }
    return { url: url.toString(), built: true, ms: Date.now() - t0 };
  } finally {
    await admin.end();
  }
}

async function buildShape(db: pg.Client, shape: ShapeSpec, rows: number, log: (line: string) => void): Promise<void> {
  const s = SHAPE_SCHEMA;
  const counts = tableRows(shape, rows);
  await db.query(`SET maintenance_work_mem = '512MB'`);
  await db.query(`CREATE SCHEMA ${ident(s)}`);
  await db.query(`CREATE TABLE ${qualified(s, 'tenants')} (id integer PRIMARY KEY, name text NOT NULL)`);
  await db.query(`INSERT INTO ${qualified(s, 'tenants')} SELECT g, 'tenant ' || g FROM generate_series(1, ${TENANTS}) g`);
  const largest = shape.tables.at(-1)!.name;
  for (const t of shape.tables) {
    const n = counts.get(t.name)!;
    const t0 = Date.now();
    const cols = [
      'id bigint NOT NULL',
      `tenant_id integer${shape.proven ? ' NOT NULL' : ''}`,
      ...t.fks.map((f) => `${ident(f.column)} bigint`),
      ...(t.email ? ['email text'] : []),
      'created_at timestamptz NOT NULL',
      ...(t.wide ? ['payload text NOT NULL'] : []),
    ];
    await db.query(`CREATE UNLOGGED TABLE ${qualified(s, t.name)} (${cols.join(', ')})`);
    const bad = t.name === largest && !shape.proven ? plantedBad(shape, n) : { cross: 'false', nulls: 'false' };
    // Row g has tenant g % 1000 + 1; each FK points at a parent row of the same tenant (the same
    // residue modulo 1000, spread over the parent), the first FK of a planted row at the next one.
    // The id of row number x (its parent's, for an FK): x itself, or with one id in 20 skipped.
    const idOf = (x: string) => (shape.gaps ? `((${x}) + (${x}) / 19)` : x);
    const fkValues = t.fks.map((f, k) => {
      const pn = counts.get(f.parent)!;
      const m = pn - (pn % TENANTS);
      const p = `coalesce(nullif(((${parentOf('g', k, pn)} / ${TENANTS}) * ${TENANTS} + g % ${TENANTS}) % ${m}, 0), ${m})`;
      return idOf(k === 0 ? `CASE WHEN ${bad.cross} THEN ${p} % ${pn} + 1 ELSE ${p} END` : p);
    });
    const tenant = tenantOf('g');
    const values = [
      idOf('g'),
      `CASE WHEN ${bad.nulls} THEN NULL ELSE ${tenant} END`,
      ...fkValues,
      // a few duplicate e-mails (g and g + 0.999 n), none in the proven shape
      ...(t.email ? [shape.proven ? `'user' || g || '@example.com'` : `'user' || (g % ${Math.max(1, Math.floor(n * 0.999))}) || '@example.com'`] : []),
      `timestamptz '2026-01-01' + g * interval '1 second'`,
      ...(t.wide ? [`rpad(md5(g::text), 1000, md5((g * 31)::text) || md5((g * 17)::text))`] : []),
    ];
    await db.query(`INSERT INTO ${qualified(s, t.name)} SELECT ${values.join(', ')} FROM generate_series(1::bigint, ${n}) g`);
    await db.query(`ALTER TABLE ${qualified(s, t.name)} ADD PRIMARY KEY (id)`);
    log(`  ${shape.name}: ${t.name} ${n.toLocaleString('en-US')} rows in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  for (const t of shape.tables) {
    const table = qualified(s, t.name);
    if (shape.proven) {
      await db.query(`ALTER TABLE ${table} ADD UNIQUE (tenant_id, id)`);
      await db.query(`ALTER TABLE ${table} ADD FOREIGN KEY (tenant_id) REFERENCES ${qualified(s, 'tenants')} (id)`);
      if (t.email) await db.query(`CREATE UNIQUE INDEX ON ${table} (tenant_id, email)`);
      await db.query(`CREATE INDEX ON ${table} (tenant_id)`);
    }
    for (const f of t.fks) {
      if (shape.proven) {
        await db.query(`ALTER TABLE ${table} ADD FOREIGN KEY (tenant_id, ${ident(f.column)}) REFERENCES ${qualified(s, f.parent)} (tenant_id, id)`);
      } else {
        // NOT VALID: the load is the benchmark's, not the audit's; a NOT VALID single-column FK is what a mid-rollout schema has.
        await db.query(`ALTER TABLE ${table} ADD FOREIGN KEY (${ident(f.column)}) REFERENCES ${qualified(s, f.parent)} (id) NOT VALID`);
      }
    }
  }
  await db.query('VACUUM ANALYZE');
}

/** Drops every cached shape database (`--fresh`). */
export async function dropShapeDatabases(adminUrl: string): Promise<string[]> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname ~ '^crmt_bench_[a-z_]+_[0-9]+_v[0-9]+$'`);
    for (const r of rows) await admin.query(`DROP DATABASE ${ident(r.datname)} WITH (FORCE)`);
    return rows.map((r) => r.datname);
  } finally {
    await admin.end();
  }
}

// Benchmark: `audit --since` (incremental re-audit) after 1 % of rows changed, against the naive per-check SQL run by psql.
// Usage: npm run bench:audit-since -- [--scale 300] [--runs 3] [--changed 0.01] [--patterns uniform,recent,leaves] [--concurrency N[,N…]] [--database-url URL] [--json] [--fresh]
// The goal (re-audit ≤ 0.2× naive) is stated at 10M rows: --scale 15000 ≈ 10M rows.
// State: the sample CRM mid-rollout (tenant columns added and filled, no constraint yet: every data check reads rows),
// its planted defects repaired with the real commands (backfill --detach-cross-tenant, dedupe), so the previous audit is clean.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { previousFromJson } from '../src/audit/incremental/read-previous.js';
import { DEFAULT_SINCE_CONCURRENCY, runAudit } from '../src/audit/runner.js';
import type { AuditResult } from '../src/audit/types.js';
import { runBackfill } from '../src/backfill/backfill-runner.js';
import { loadManifest, type Manifest } from '../src/config/manifest.js';
import { type Catalog, findColumn, findRelation, foreignKeys, readCatalog } from '../src/db/catalog.js';
import { ident, qualified } from '../src/db/quote.js';
import { runDedupe } from '../src/dedupe/dedupe-runner.js';
import { renderJson } from '../src/report/json.js';
import { loadSampleCrm, SAMPLE_MANIFEST } from '../src/sample/sample-crm.js';
import { floorSql, naiveAuditSql, timePsql } from './lib/audit-naive.js';
import { prepareMidRollout } from './lib/audit-states.js';
import { alternate } from './lib/audit-stats.js';
import { emitBenchResult, type BenchMetric } from './lib/bench-result.js';
import { createScratchDatabase } from './lib/scratch-database.js';

interface Args {
  scale: number;
  runs: number;
  changed: number;
  patterns: Pattern[];
  /** Audit connections of the --since runs: each value is a contender of its own, timed side by side. */
  concurrency: number[];
  databaseUrl: string;
  json: boolean;
  fresh: boolean;
}

/**
 * How the 1 % of rows change between the previous audit and the re-audit (each a new row version):
 *   uniform  random rows of every table, parents included (the worst case: every parent's changed
 *            keys reach their children, spread over the whole child);
 *   recent   the newest rows of every table by id (a CRM's day: the records being worked on);
 *   leaves   random rows of the tables no other table references (activities, e-mails, files…:
 *            the same number of rows, no parent changed).
 */
const PATTERNS = ['uniform', 'recent', 'leaves'] as const;
type Pattern = (typeof PATTERNS)[number];

const USAGE =
  'npm run bench:audit-since -- [--scale N (300)] [--runs R (3)] [--changed F (0.01)] [--patterns uniform,recent,leaves] [--concurrency N[,N…] (the CLI default)] [--database-url URL] [--json] [--fresh]';
/** Bump when the database the benchmark builds changes: a cached one of another version is rebuilt. */
const SETUP_VERSION = 1;

function parseArgs(argv: string[]): Args {
  const args: Args = {
    scale: 300,
    runs: 3,
    changed: 0.01,
    patterns: [...PATTERNS],
    concurrency: [DEFAULT_SINCE_CONCURRENCY],
    databaseUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    json: false,
    fresh: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--scale') args.scale = Number(argv[++i]);
    else if (a === '--runs') args.runs = Number(argv[++i]);
    else if (a === '--changed') args.changed = Number(argv[++i]);
    else if (a === '--patterns') args.patterns = argv[++i].split(',').filter((x) => x !== '') as Pattern[];
    else if (a === '--concurrency') args.concurrency = argv[++i].split(',').map(Number);
    else if (a === '--database-url') args.databaseUrl = argv[++i];
    else if (a === '--json') args.json = true;
    else if (a === '--fresh') args.fresh = true;
    else if (a === '--help') {
      console.log(
        `${USAGE}\nThe goal (re-audit after 1 % of rows changed ≤ 0.2× the naive script) is stated for ≥ 10M rows: --scale 15000 ≈ 10M rows\n` +
          '(first run: load ~1 min, then the repair with the real backfill and dedupe ~5-15 min on 2 cores; the repaired database is kept\n' +
          'as crmt_bench_since_<scale>_v<N> for later runs, --fresh rebuilds it).',
      );
      process.exit(0);
    } else throw new Error(`unknown option ${a}\n${USAGE}`);
  }
  if (!Number.isInteger(args.scale) || args.scale < 1) throw new Error('--scale must be a whole number ≥ 1');
  if (!Number.isInteger(args.runs) || args.runs < 1) throw new Error('--runs must be a whole number ≥ 1');
  if (!(args.changed > 0 && args.changed <= 1)) throw new Error('--changed must be a fraction in (0, 1]');
  const unknown = args.patterns.filter((x) => !PATTERNS.includes(x));
  if (unknown.length > 0 || args.patterns.length === 0) throw new Error(`--patterns takes ${PATTERNS.join(', ')} (got ${unknown.join(', ') || 'none'})`);
  if (args.concurrency.some((c) => !Number.isInteger(c) || c < 1)) throw new Error('--concurrency takes whole numbers ≥ 1, comma-separated');
  return args;
}

const log = (line: string) => process.stderr.write(`${line}\n`);
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const DATA_CHECKS = ['null-tenant', 'cross-tenant-reference', 'duplicate-within-tenant', 'unknown-tenant'];

/** Findings as comparable data (samples sorted: each scan takes the first 5 it meets). */
const view = (r: AuditResult) => JSON.stringify(r.findings.map((f) => [f.check, f.table, f.object, f.count, [...f.samples].map((s) => JSON.stringify(s)).sort()]));

/** Rows the repair commands cannot place (orphans: no parent to take a tenant from) get the first tenant. */
async function repair(db: pg.Client, url: string, manifest: Manifest): Promise<AuditResult> {
  const { schema, tenant } = manifest;
  const catalog = await readCatalog(db, [schema]);
  const first = (await db.query(`SELECT min(${ident(tenant.key)}) AS k FROM ${qualified(schema, tenant.table)}`)).rows[0].k;
  for (let round = 0; round < 6; round++) {
    const backfill = await runBackfill({ databaseUrl: url, manifest, detachCrossTenant: true });
    const dedupe = await runDedupe({ databaseUrl: url, manifest });
    for (const t of manifest.tables) {
      const rel = findRelation(catalog, schema, t.name);
      if (!rel || !findColumn(rel, tenant.column) || t.sharedRows) continue;
      await db.query(`UPDATE ${qualified(schema, t.name)} SET ${ident(tenant.column)} = $1 WHERE ${ident(tenant.column)} IS NULL`, [first]);
    }
    const audit = await runAudit({ databaseUrl: url, manifest, only: DATA_CHECKS });
    log(
      `  repair round ${round + 1}: backfill filled ${backfill.tables.reduce((n, x) => n + x.filled, 0)}, detached ${backfill.tables.reduce((n, x) => n + x.detached, 0)}; dedupe removed ${dedupe.removed}; ${audit.findings.length} data findings left`,
    );
    if (audit.findings.length === 0) return audit;
  }
  throw new Error('the sample CRM could not be repaired to a clean state');
}

/**
 * Gives about `fraction` of all rows a new row version (same values), as `pattern` says; returns
 * how many. Same values: the database stays clean for the next pattern and run.
 */
async function changeRows(db: pg.Client, manifest: Manifest, catalog: Catalog, pattern: Pattern, fraction: number): Promise<number> {
  const { schema } = manifest;
  const col = ident(manifest.tenant.column);
  const tables = manifest.tables.map((t) => findRelation(catalog, schema, t.name)).filter((t) => t !== undefined && findColumn(t, manifest.tenant.column));
  const referenced = new Set(tables.flatMap((t) => foreignKeys(t!).map((fk) => fk.references!.table)));
  const rows = new Map(tables.map((t) => [t!.name, Math.max(0, t!.estimatedRows)]));
  const total = [...rows.values()].reduce((a, b) => a + b, 0);
  const leaves = tables.filter((t) => !referenced.has(t!.name));
  const leafRows = leaves.reduce((n, t) => n + rows.get(t!.name)!, 0);
  let changed = 0;
  for (const t of pattern === 'leaves' ? leaves : tables) {
    const table = qualified(schema, t!.name);
    const share = pattern === 'leaves' ? Math.min(1, (fraction * total) / Math.max(1, leafRows)) : fraction;
    const hasId = findColumn(t!, 'id') !== undefined;
    const sql =
      pattern === 'recent' && hasId
        ? `UPDATE ${table} SET ${col} = ${col} WHERE id IN (SELECT id FROM ${table} ORDER BY id DESC LIMIT ceil($1::float8 * ${rows.get(t!.name)})::bigint)`
        : `UPDATE ${table} SET ${col} = ${col} WHERE random() < $1::float8`;
    changed += (await db.query(sql, [share])).rowCount ?? 0;
  }
  return changed;
}

/** The repaired sample CRM at `scale`, built once and kept between runs (its name says scale and setup version). */
async function ensureDatabase(args: Args): Promise<{ url: string; rows: number }> {
  const name = `crmt_bench_since_${args.scale}_v${SETUP_VERSION}`;
  const admin = new pg.Client({ connectionString: args.databaseUrl });
  await admin.connect();
  const parsed = new URL(args.databaseUrl);
  parsed.pathname = `/${name}`;
  const url = parsed.toString();
  try {
    const exists = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
    if (exists && !args.fresh) {
      const db = new pg.Client({ connectionString: url });
      await db.connect();
      try {
        const done = await db.query(`SELECT obj_description('public.bench_complete'::regclass, 'pg_class') AS rows FROM pg_class WHERE oid = to_regclass('public.bench_complete')`);
        if (done.rowCount === 1) return { url, rows: Number(done.rows[0].rows) };
      } finally {
        await db.end();
      }
    }
    if (exists) await admin.query(`DROP DATABASE ${ident(name)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
  const { admin: a2, db } = await createScratchDatabase(args.databaseUrl, name);
  try {
    let t0 = performance.now();
    const loaded = await loadSampleCrm(db, { scale: args.scale });
    const manifest = await loadManifest(SAMPLE_MANIFEST);
    await prepareMidRollout(db, manifest);
    log(`sample CRM at scale ${args.scale}: ${loaded.rows.toLocaleString('en-US')} rows, mid-rollout, in ${sec(performance.now() - t0)}`);
    t0 = performance.now();
    await repair(db, url, manifest);
    await db.query('VACUUM ANALYZE');
    log(`repaired to a clean state in ${sec(performance.now() - t0)}; kept as ${name}`);
    await db.query('CREATE TABLE public.bench_complete ()');
    await db.query(`COMMENT ON TABLE public.bench_complete IS '${loaded.rows}'`);
    return { url, rows: loaded.rows };
  } finally {
    await db.end();
    await a2.end();
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'crmt-bench-since-'));
  const metrics: BenchMetric[] = [];
  const context: Record<string, unknown>[] = [];
  const { url: dbUrl, rows } = await ensureDatabase(args);
  const db = new pg.Client({ connectionString: dbUrl });
  await db.connect();
  try {
    const { rows: v } = await db.query(`SELECT current_setting('server_version') AS v`);
    const manifest = await loadManifest(SAMPLE_MANIFEST);
    const catalog = await readCatalog(db, [manifest.schema]);
    const naive = naiveAuditSql(manifest, catalog);
    const naiveFile = path.join(workDir, 'naive.sql');
    await writeFile(naiveFile, naive.sql);
    const floorFile = path.join(workDir, 'floor.sql');
    await writeFile(floorFile, floorSql(manifest, catalog));
    log(`PostgreSQL ${v[0].v}; sample CRM at scale ${args.scale}: ${rows.toLocaleString('en-US')} rows`);
    log(`naive script: ${naive.nullQueries} NULL counts, ${naive.unknownTenantQueries} unknown-tenant anti-joins, ${naive.fkQueries} FK joins, ${naive.duplicateQueries} GROUP BYs`);
    const out: string[] = ['', `audit --since benchmark — scale ${args.scale} (${rows.toLocaleString('en-US')} rows), PostgreSQL ${v[0].v}, medians of ${args.runs}, alternating`];
    const heads = (suffix: string, width: number) => args.concurrency.map((c) => `since@${c}${suffix}`.padEnd(width)).join('');
    out.push(`pattern   changed   ${heads('', 10)}naive     floor     ${heads('/naive', 17)}since/floor`);
    for (const pattern of args.patterns) {
      const previousRun = await runAudit({ databaseUrl: dbUrl, manifest });
      if (previousRun.findings.some((f) => DATA_CHECKS.includes(f.check))) throw new Error('the benchmark database is not clean: run with --fresh');
      const previous = previousFromJson('previous.json', JSON.parse(renderJson(previousRun)));
      const t0 = performance.now();
      const changed = await changeRows(db, manifest, catalog, pattern, args.changed);
      await db.query('ANALYZE');
      log(`${pattern}: changed ${changed.toLocaleString('en-US')} rows (${((100 * changed) / rows).toFixed(2)} %) in ${sec(performance.now() - t0)}`);
      await timePsql(dbUrl, naiveFile); // warm the cache before anything is timed
      let last: AuditResult | undefined;
      const times = await alternate(
        [
          ...args.concurrency.map((c) => ({
            name: `since@${c}`,
            run: async () => {
              const t = performance.now();
              last = await runAudit({ databaseUrl: dbUrl, manifest, since: previous, concurrency: c });
              return performance.now() - t;
            },
          })),
          { name: 'naive', run: () => timePsql(dbUrl, naiveFile) },
          { name: 'floor', run: () => timePsql(dbUrl, floorFile) },
        ],
        args.runs,
        (name, ms, round) => log(`  round ${round + 1}: ${name} ${sec(ms)}`),
      );
      const full = await runAudit({ databaseUrl: dbUrl, manifest });
      if (view(full) !== view(last!)) throw new Error('audit --since and a full audit disagree: a bug');
      const modes = last!.incremental!.tables.map((t) => `${t.table.replace(/^.*\./, '')}: ${t.mode === 'incremental' ? `incremental (${t.changedRows})` : t.mode === 'full' ? `full: ${t.reasons[0]}` : t.mode}`);
      log(`  per table: ${modes.join('; ')}`);
      const slowest = [...last!.runs].sort((a, b) => b.ms - a.ms).slice(0, 6);
      log(`  slowest queries of the last --since run: ${slowest.map((r) => `${r.target ?? r.check} ${r.ms} ms`).join('; ')}`);
      const n = times.get('naive')!.median;
      const f = times.get('floor')!.median;
      const since = args.concurrency.map((c) => times.get(`since@${c}`)!.median);
      const best = Math.min(...since);
      out.push(
        `${pattern.padEnd(10)}${changed.toLocaleString('en-US').padEnd(10)}${since.map((s) => sec(s).padEnd(10)).join('')}${sec(n).padEnd(10)}${sec(f).padEnd(10)}` +
          `${since.map((s) => (s / n).toFixed(3).padEnd(17)).join('')}${(best / f).toFixed(2)}`,
      );
      for (const [i, c] of args.concurrency.entries()) {
        const r = since[i] / n;
        metrics.push({ metric: `${pattern}.since${args.concurrency.length > 1 ? `_c${c}` : ''}_over_naive`, value: Number(r.toFixed(4)), goal: '≤ 0.2', pass: r <= 0.2 });
      }
      context.push({ pattern, changed, since_ms: Object.fromEntries(args.concurrency.map((c, i) => [c, since[i]])), naive_ms: n, floor_ms: f, full_audit_ms: full.summary.durationMs });
      // The changed rows left dead versions behind: vacuum them so the next pattern starts alike.
      await db.query('VACUUM ANALYZE');
    }
    out.push(
      'since/floor: floor = count(*) of every table by psql; --since reads every table once to find its changed rows (PostgreSQL keeps no index of them),',
      'so it cannot go below the floor; naive = the per-check SQL by psql (one NULL count, one unknown-tenant anti-join per table, one join per FK, one GROUP BY per key).',
    );
    console.log(out.join('\n'));
    if (args.json) console.log(JSON.stringify({ bench: 'audit-since', results: metrics, context: { scale: args.scale, rows, patterns: context } }));
    else emitBenchResult('audit-since', metrics);
  } finally {
    await db.end().catch(() => {});
    await rm(workDir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(2);
});

// Benchmark: the audit vs the same data checks written naively (psql) on generated shapes (bench/lib/audit-shapes.ts),
// a fully proven database (CLI end to end), optionally the sample CRM mid-rollout and after the real rollout; catalog checks on 1,000 tables.
// Usage: npm run bench:audit -- [--rows 200000] [--shapes a,b,…] [--runs 3] [--tables 1000] [--crm] [--scale 300] [--database-url URL] [--json] [--keep] [--fresh] [--no-finished] [--no-wide] [--no-proven]
// --json: the last stdout line is one JSON object {"bench":"audit","results":[{metric,value,goal,pass}],"context":{…}}; without it the BENCH_RESULT line of bench/lib/bench-result.ts.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { loadManifest, parseManifestText, type Manifest } from '../src/config/manifest.js';
import { readCatalog } from '../src/db/catalog.js';
import { ident } from '../src/db/quote.js';
import { loadChecks } from '../src/audit/check-definitions.js';
import { runAudit } from '../src/audit/runner.js';
import type { AuditResult } from '../src/audit/types.js';
import { loadSampleCrm, SAMPLE_MANIFEST } from '../src/sample/sample-crm.js';
import { packagePath } from '../src/paths.js';
import { floorSql, naiveAuditSql, timeCommand, timePsql } from './lib/audit-naive.js';
import { alternate, median } from './lib/audit-stats.js';
import { emitBenchResult, type BenchMetric } from './lib/bench-result.js';
import { benchManifest, finishRollout, prepareMidRollout } from './lib/audit-states.js';
import { createWideSchema, wideManifestDocument } from './lib/audit-wide.js';
import { dropShapeDatabases, ensureShapeDatabase, PROVEN_SHAPE, shapeManifestDocument, SHAPES, type ShapeSpec } from './lib/audit-shapes.js';
import { createScratchDatabase } from './lib/scratch-database.js';

interface Args {
  rows: number;
  shapes: string[];
  proven: boolean;
  crm: boolean;
  fresh: boolean;
  scale: number;
  runs: number;
  /** Audit connections (catalog + data lanes); default: the CLI default. */
  concurrency?: number;
  tables: number;
  databaseUrl: string;
  json: boolean;
  keep: boolean;
  finished: boolean;
  wide: boolean;
}

const USAGE =
  'npm run bench:audit -- [--rows N (200000)] [--shapes many-fks,chain,few-bad,dense-bad,wide,gaps] [--runs R (3)] [--concurrency N (the CLI default)] [--tables N (1000)] [--crm] [--scale N (300)] [--database-url URL] [--json] [--keep] [--fresh] [--no-finished] [--no-wide] [--no-proven]';

function parseArgs(argv: string[]): Args {
  const args: Args = {
    rows: 200_000,
    shapes: SHAPES.map((x) => x.name),
    proven: true,
    crm: false,
    fresh: false,
    scale: 300,
    runs: 3,
    tables: 1000,
    databaseUrl: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    json: false,
    keep: false,
    finished: true,
    wide: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--rows') args.rows = Number(argv[++i]);
    else if (a === '--shapes') args.shapes = argv[++i].split(',').filter((x) => x !== '');
    else if (a === '--no-proven') args.proven = false;
    else if (a === '--crm') args.crm = true;
    else if (a === '--fresh') args.fresh = true;
    else if (a === '--scale') args.scale = Number(argv[++i]);
    else if (a === '--runs') args.runs = Number(argv[++i]);
    else if (a === '--concurrency') args.concurrency = Number(argv[++i]);
    else if (a === '--tables') args.tables = Number(argv[++i]);
    else if (a === '--database-url') args.databaseUrl = argv[++i];
    else if (a === '--json') args.json = true;
    else if (a === '--keep') args.keep = true;
    else if (a === '--no-finished') args.finished = false;
    else if (a === '--no-wide') args.wide = false;
    else if (a === '--help') {
      console.log(
        `${USAGE}\nThe goals (audit/naive ≤ 0.8 in the median shape and ≤ 1.0 in every shape, proven database audit CLI/naive ≤ 0.1,\n` +
          '1,000 tables < 2 s) are stated for --rows 10000000. Shape databases are kept between runs (by shape, rows and generator\n' +
          'version; --fresh drops them). --crm adds the sample CRM mid-rollout and finished by the real rollout (--scale 17000 ≈ 11.3M\n' +
          'rows, ~7 min of rollout). At small scales process start and catalog checks dominate and the ratios mean little.',
      );
      process.exit(0);
    } else throw new Error(`unknown option ${a}\n${USAGE}`);
  }
  if (!Number.isInteger(args.scale) || args.scale < 1) throw new Error('--scale must be a whole number ≥ 1');
  if (!Number.isInteger(args.rows) || args.rows < 100_000) throw new Error('--rows must be a whole number ≥ 100000');
  const unknown = args.shapes.filter((x) => !SHAPES.some((s) => s.name === x));
  if (unknown.length > 0) throw new Error(`unknown shape ${unknown.join(', ')}: shapes are ${SHAPES.map((s) => s.name).join(', ')}`);
  if (!Number.isInteger(args.runs) || args.runs < 1) throw new Error('--runs must be a whole number ≥ 1');
  if (!Number.isInteger(args.tables) || args.tables < 2 || args.tables > 9999) throw new Error('--tables must be from 2 to 9999');
  return args;
}

const log = (line: string) => process.stderr.write(`${line}\n`);
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const CLI = packagePath('bin', 'crm-tenancy.js');

function describe(result: AuditResult): string {
  const s = result.summary;
  return `${s.error} errors, ${s.warning} warnings, ${s.info} info; ${s.checks} checks, ${s.scannedTables} tables scanned, ${s.skippedScans} scans proven unnecessary`;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const suffix = randomBytes(3).toString('hex');
  const dbName = `crmt_bench_audit_${suffix}`;
  const appRole = `crmt_bench_audit_app_${suffix}`;
  const bypassRole = `crmt_bench_audit_support_${suffix}`;
  const wideRole = `crmt_bench_audit_wide_${suffix}`;
  const wideSchema = 'bench_wide';
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'crmt-bench-audit-'));
  const { admin, url: dbUrl, db } = await createScratchDatabase(args.databaseUrl, dbName);
  // Numbers with a goal (what `npm run bench` tabulates) and numbers shown for context.
  const metrics: BenchMetric[] = [];
  const context: Record<string, number> = {};
  const round = (n: number) => Number(n.toFixed(4));
  const add = (metric: string, value: number, goal: string | null, pass: boolean | null) => {
    if (goal === null || pass === null) context[metric] = round(value);
    else metrics.push({ metric, value: round(value), goal, pass });
  };
  const lines: string[] = [];
  try {
    const { rows: v } = await db.query(`SELECT current_setting('server_version') AS v`);
    let t0 = performance.now();
    let crmRows = 0;
    if (args.fresh) log(`dropped cached shape databases: ${(await dropShapeDatabases(args.databaseUrl)).join(', ') || 'none'}`);

    // ── Generated shapes: audit (in-process, every check) vs naive (psql) vs floor (count(*)) ─
    const shapeRatios: number[] = [];
    const shapeLines: string[] = [];
    const manifestFor = async (shape: ShapeSpec) => {
      const doc = shapeManifestDocument(shape, `crmt_bench_audit_app_${suffix}`);
      const file = path.join(workDir, `${shape.name}.yaml`);
      await writeFile(file, JSON.stringify(doc, null, 1)); // JSON is YAML
      return { manifest: parseManifestText(JSON.stringify(doc), file), file };
    };
    const prepare = async (shape: ShapeSpec) => {
      const built = await ensureShapeDatabase(args.databaseUrl, shape, args.rows, log);
      log(`${shape.title}: ${built.built ? `generated in ${sec(built.ms)}` : 'cached'} (${new URL(built.url).pathname.slice(1)})`);
      const { manifest, file } = await manifestFor(shape);
      const client = new pg.Client({ connectionString: built.url });
      await client.connect();
      try {
        const catalog = await readCatalog(client, [manifest.schema]);
        const naive = naiveAuditSql(manifest, catalog);
        const naiveFile = path.join(workDir, `naive-${shape.name}.sql`);
        const floorFile = path.join(workDir, `floor-${shape.name}.sql`);
        await writeFile(naiveFile, naive.sql);
        await writeFile(floorFile, floorSql(manifest, catalog));
        return { url: built.url, manifest, file, naive, naiveFile, floorFile };
      } finally {
        await client.end();
      }
    };
    for (const name of args.shapes) {
      const shape = SHAPES.find((x) => x.name === name)!;
      const p = await prepare(shape);
      await timePsql(p.url, p.floorFile); // warm the cache before anything is timed
      let last: AuditResult | undefined;
      const st = await alternate(
        [
          {
            name: 'audit',
            run: async () => {
              const t = performance.now();
              last = await runAudit({ databaseUrl: p.url, manifest: p.manifest, ...(args.concurrency ? { concurrency: args.concurrency } : {}) });
              return performance.now() - t;
            },
          },
          { name: 'naive', run: () => timePsql(p.url, p.naiveFile) },
          { name: 'floor', run: () => timePsql(p.url, p.floorFile) },
        ],
        args.runs,
        (who, ms, round) => log(`  ${shape.name} round ${round + 1}: ${who} ${sec(ms)}`),
      );
      const data = last!.findings.filter((f) => f.count !== null).map((f) => `${f.check} ${f.table} ${f.count}`);
      log(`  audit found: ${describe(last!)}; data: ${data.join('; ') || 'none'}`);
      const a = st.get('audit')!.median;
      const n = st.get('naive')!.median;
      const f = st.get('floor')!.median;
      shapeRatios.push(a / n);
      shapeLines.push(
        `${shape.title.padEnd(40)} audit ${sec(a).padStart(8)} · naive ${sec(n).padStart(8)} · floor ${sec(f).padStart(8)}   audit/naive ${(a / n).toFixed(2)}  audit/floor ${(a / f).toFixed(2)}`,
      );
      add(`shape.${shape.name}.audit_over_naive`, a / n, '≤ 1.0', a / n <= 1.0);
      add(`shape.${shape.name}.audit_over_floor`, a / f, null, null);
      add(`shape.${shape.name}.audit_ms`, a, null, null);
      add(`shape.${shape.name}.naive_ms`, n, null, null);
      add(`shape.${shape.name}.floor_ms`, f, null, null);
      add(`shape.${shape.name}.naive_queries`, p.naive.nullQueries + p.naive.fkQueries + p.naive.duplicateQueries + p.naive.unknownTenantQueries, null, null);
    }
    if (shapeRatios.length > 0) {
      const m = median(shapeRatios);
      lines.push(`shapes at ${args.rows.toLocaleString('en-US')} rows (medians of ${args.runs}; audit in-process, every check; naive and floor by psql):`, ...shapeLines.map((l) => `  ${l}`));
      add('shapes.median_audit_over_naive', m, '≤ 0.8', m <= 0.8);
    }

    // ── A fully proven database: the CLI end to end (process start to exit) vs the naive script ─
    if (args.proven) {
      const p = await prepare(PROVEN_SHAPE);
      await timePsql(p.url, p.floorFile);
      let lastJson = '';
      const sp = await alternate(
        [
          {
            name: 'audit',
            run: async () => {
              const r = await timeCommand('node', [CLI, '--database-url', p.url, '--config', p.file, 'audit', '--format', 'json'], [0, 1]);
              lastJson = r.stdout;
              return r.ms;
            },
          },
          { name: 'naive', run: () => timePsql(p.url, p.naiveFile) },
        ],
        args.runs,
        (who, ms, round) => log(`  proven round ${round + 1}: ${who} ${sec(ms)}`),
      );
      const report = JSON.parse(lastJson) as Pick<AuditResult, 'summary'>;
      log(`  audit (CLI) found: ${describe(report as AuditResult)}`);
      const a = sp.get('audit')!.median;
      const n = sp.get('naive')!.median;
      lines.push(`${PROVEN_SHAPE.title}: audit CLI ${sec(a)} (process start to exit) · naive ${sec(n)}   audit/naive ${(a / n).toFixed(3)}`);
      add('proven.audit_cli_over_naive', a / n, '≤ 0.1', a / n <= 0.1);
      add('proven.audit_cli_ms', a, null, null);
      add('proven.naive_ms', n, null, null);
      add('proven.scanned_tables', report.summary.scannedTables, '= 0', report.summary.scannedTables === 0);
    }

    // ── The sample CRM (--crm): mid-rollout, then finished by the real rollout commands ─────
    if (args.crm) {
      t0 = performance.now();
      const loaded = await loadSampleCrm(db, { scale: args.scale });
      crmRows = loaded.rows;
      await db.query('VACUUM ANALYZE');
      log(`PostgreSQL ${v[0].v}; sample CRM at scale ${args.scale}: ${loaded.rows.toLocaleString('en-US')} rows loaded in ${sec(performance.now() - t0)} (database ${dbName})`);

      // ── State 1: mid-rollout ────────────────────────────────────────────────────────────────
      const repoManifest: Manifest = await loadManifest(SAMPLE_MANIFEST);
      t0 = performance.now();
      const added = await prepareMidRollout(db, repoManifest);
      log(`mid-rollout: added and filled ${repoManifest.tenant.column} on ${added.join(', ')} in ${sec(performance.now() - t0)} (planted NULLs kept)`);
      const catalog1 = await readCatalog(db, [repoManifest.schema]);
      const naive1 = naiveAuditSql(repoManifest, catalog1);
      const naive1File = path.join(workDir, 'naive-mid-rollout.sql');
      const floor1File = path.join(workDir, 'floor.sql');
      await writeFile(naive1File, naive1.sql);
      await writeFile(floor1File, floorSql(repoManifest, catalog1));
      log(`naive script: ${naive1.nullQueries} NULL counts, ${naive1.unknownTenantQueries} unknown-tenant anti-joins, ${naive1.fkQueries} FK joins, ${naive1.duplicateQueries} GROUP BYs (${naive1File})`);
      await timePsql(dbUrl, floor1File); // warm the cache before anything is timed

      let last1: AuditResult | undefined;
      const s1 = await alternate(
        [
          {
            name: 'audit',
            run: async () => {
              const t = performance.now();
              last1 = await runAudit({ databaseUrl: dbUrl, manifest: repoManifest });
              return performance.now() - t;
            },
          },
          { name: 'naive', run: () => timePsql(dbUrl, naive1File) },
          { name: 'floor', run: () => timePsql(dbUrl, floor1File) },
        ],
        args.runs,
        (name, ms, round) => log(`  mid-rollout round ${round + 1}: ${name} ${sec(ms)}`),
      );
      log(`  audit found: ${describe(last1!)}`);
      const a1 = s1.get('audit')!.median;
      const n1 = s1.get('naive')!.median;
      const f1 = s1.get('floor')!.median;
      lines.push(`mid-rollout   audit ${sec(a1)} · naive ${sec(n1)} · floor ${sec(f1)}  (medians of ${args.runs})`);
      add('mid_rollout.audit_over_naive', a1 / n1, '≤ 0.8', a1 / n1 <= 0.8);
      add('mid_rollout.audit_over_floor', a1 / f1, null, null);
      add('mid_rollout.audit_ms', a1, null, null);
      add('mid_rollout.naive_ms', n1, null, null);
      add('mid_rollout.floor_ms', f1, null, null);

      // ── State 2: rollout finished, tenant-scoped keys ───────────────────────────────────────
      if (args.finished) {
        const { manifest, file: manifestFile } = await benchManifest(path.join(workDir, 'finished'), appRole, bypassRole);
        t0 = performance.now();
        await finishRollout(dbUrl, manifest, path.join(workDir, 'finished'), (s) => log(`  rollout: ${s.name} ${sec(s.ms)} — ${s.summary}`));
        await db.query('VACUUM ANALYZE');
        log(`rollout finished in ${sec(performance.now() - t0)}`);
        const catalog2 = await readCatalog(db, [manifest.schema]);
        const naive2 = naiveAuditSql(manifest, catalog2);
        const naive2File = path.join(workDir, 'naive-finished.sql');
        const floor2File = path.join(workDir, 'floor-finished.sql');
        await writeFile(naive2File, naive2.sql);
        await writeFile(floor2File, floorSql(manifest, catalog2));
        log(`naive script: ${naive2.nullQueries} NULL counts, ${naive2.unknownTenantQueries} unknown-tenant anti-joins, ${naive2.fkQueries} FK joins, ${naive2.duplicateQueries} GROUP BYs`);
        await timePsql(dbUrl, floor2File);

        let lastJson = '';
        const s2 = await alternate(
          [
            {
              name: 'audit',
              run: async () => {
                const r = await timeCommand('node', [CLI, '--database-url', dbUrl, '--config', manifestFile, 'audit', '--format', 'json'], [0, 1]);
                lastJson = r.stdout;
                return r.ms;
              },
            },
            { name: 'naive', run: () => timePsql(dbUrl, naive2File) },
          ],
          args.runs,
          (name, ms, round) => log(`  finished round ${round + 1}: ${name} ${sec(ms)}`),
        );
        const report = JSON.parse(lastJson) as Pick<AuditResult, 'summary'>;
        log(`  audit (CLI) found: ${describe(report as AuditResult)}`);
        const a2 = s2.get('audit')!.median;
        const n2 = s2.get('naive')!.median;
        lines.push(`finished      audit CLI ${sec(a2)} (process start included) · naive ${sec(n2)}  (medians of ${args.runs})`);
        add('finished.audit_cli_over_naive', a2 / n2, '≤ 0.2', a2 / n2 <= 0.2);
        add('finished.audit_cli_ms', a2, null, null);
        add('finished.naive_ms', n2, null, null);
        add('finished.scanned_tables', report.summary.scannedTables, '= 0', report.summary.scannedTables === 0);
      }
    }

    // ── Catalog and policy checks on a wide schema ──────────────────────────────────────────
    if (args.wide) {
      await admin.query(`CREATE ROLE ${ident(wideRole)} NOLOGIN`);
      t0 = performance.now();
      await createWideSchema(db, wideSchema, args.tables - 1, wideRole);
      log(`wide schema: ${args.tables} tables created in ${sec(performance.now() - t0)}`);
      const doc = wideManifestDocument(wideSchema, args.tables - 1, wideRole, 'bench_wide_state');
      const wideFile = path.join(workDir, 'wide.yaml');
      await writeFile(wideFile, JSON.stringify(doc, null, 1)); // JSON is YAML
      const wideManifest = parseManifestText(JSON.stringify(doc), wideFile);
      const only = (await loadChecks()).filter((c) => c.kind !== 'data' && c.target === undefined).map((c) => c.id);
      let lastWide: AuditResult | undefined;
      const sw = await alternate(
        [
          {
            name: 'in-process',
            run: async () => {
              const t = performance.now();
              lastWide = await runAudit({ databaseUrl: dbUrl, manifest: wideManifest, only });
              return performance.now() - t;
            },
          },
          {
            name: 'cli',
            run: async () =>
              (await timeCommand('node', [CLI, '--database-url', dbUrl, '--config', wideFile, 'audit', '--format', 'json', '--only', only.join(',')], [0, 1])).ms,
          },
        ],
        args.runs,
        (name, ms, round) => log(`  wide round ${round + 1}: ${name} ${sec(ms)}`),
      );
      log(`  catalog audit found: ${describe(lastWide!)}`);
      const w = sw.get('in-process')!.median;
      const wc = sw.get('cli')!.median;
      lines.push(`${args.tables} tables  ${only.length} catalog + policy checks ${sec(w)} in-process · ${sec(wc)} CLI  (medians of ${args.runs})`);
      add('wide.catalog_checks_s', w / 1000, '< 2 s', w < 2000);
      add('wide.catalog_checks_cli_s', wc / 1000, null, null);
      add('wide.tables', args.tables, null, null);
    }

    // ── Report ──────────────────────────────────────────────────────────────────────────────
    const out: string[] = ['', `audit benchmark — PostgreSQL ${v[0].v}${args.crm ? `; sample CRM at scale ${args.scale} (${crmRows.toLocaleString('en-US')} rows)` : ''}`, ...lines, ''];
    const ratios = metrics.map((m) => ({ ...m, shown: m.value.toFixed(3) }));
    for (const key of ['mid_rollout.audit_over_floor']) if (key in context) ratios.splice(1, 0, { metric: key, value: context[key], goal: '(context)', pass: true, shown: context[key].toFixed(3) });
    const width = Math.max(...ratios.map((m) => m.metric.length));
    out.push(`${'metric'.padEnd(width)}  ${'value'.padStart(8)}  ${'goal'.padEnd(9)}  result`);
    for (const m of ratios) out.push(`${m.metric.padEnd(width)}  ${m.shown.padStart(8)}  ${m.goal.padEnd(9)}  ${m.goal === '(context)' ? '' : m.pass ? 'OK' : 'MISSED'}`);
    console.log(out.join('\n'));
    // Last line of stdout: one JSON object with --json, else the BENCH_RESULT line every benchmark prints.
    if (args.json) console.log(JSON.stringify({ bench: 'audit', results: metrics, context: { rows: args.rows, scale: args.crm ? args.scale : null, crmRows, runs: args.runs, ...context } }));
    else emitBenchResult('audit', metrics);
  } finally {
    await db.end().catch(() => {});
    if (!args.keep) {
      await admin.query(`DROP DATABASE IF EXISTS ${ident(dbName)} WITH (FORCE)`);
      for (const role of [appRole, bypassRole, wideRole]) await admin.query(`DROP ROLE IF EXISTS ${ident(role)}`).catch((e) => log(`could not drop role ${role}: ${e.message}`));
      await rm(workDir, { recursive: true, force: true });
    } else log(`kept database ${dbName}, roles ${appRole}, ${bypassRole}, ${wideRole} and ${workDir}`);
    await admin.end();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(2);
});

// Benchmark: the same writers during our online migrations and during the naive blocking version,
// side by side: longest writer stall, failed writes, and the ratio. `npm run bench:migrate -- --rows N`.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { ident } from '../src/db/quote.js';
import { generateMigrations } from '../src/migrate/generate.js';
import { runMigrate } from '../src/migrate/runner.js';
import { createLoadSchema, loadManifestFor, naiveStatements, startWriters, type WriterStats } from './lib/migrate-load.js';
import { emitBenchResult } from './lib/bench-result.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '100000' },
    writers: { type: 'string', default: '4' },
    'writer-timeout': { type: 'string', default: '5000' },
    'database-url': { type: 'string' },
    'composite-keys': { type: 'boolean', default: false },
  },
});
const rows = Number(values.rows);
const connections = Number(values.writers);
const writerTimeout = Number(values['writer-timeout']);
const adminUrl = values['database-url'] ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

interface Outcome {
  variant: string;
  ms: number;
  stats: WriterStats;
}

async function measure(variant: string, url: string, work: () => Promise<void>): Promise<Outcome> {
  const writers = await startWriters({ url, schema: variant, rows, connections, timeoutMs: writerTimeout });
  await new Promise((r) => setTimeout(r, 500));
  const started = performance.now();
  let ms = 0;
  let stats: Awaited<ReturnType<typeof writers.stop>>;
  try {
    await work();
  } finally {
    // The writers stop even when the work fails.
    ms = performance.now() - started;
    await new Promise((r) => setTimeout(r, 500));
    stats = await writers.stop();
  }
  return { variant, ms, stats };
}

async function main(): Promise<void> {
  const dbName = `crmt_bench_migrate_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${ident(dbName)}`);
  const url = withDatabase(adminUrl, dbName);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const dir = await mkdtemp(path.join(tmpdir(), 'crmt-bench-migrate-'));
  try {
    console.error(`loading ${rows.toLocaleString('en-US')} accounts (+${Math.floor(rows / 10).toLocaleString('en-US')} entries) twice…`);
    await createLoadSchema(client, 'ours', rows);
    await createLoadSchema(client, 'naive', rows);
    const composite = values['composite-keys'];
    const manifest = loadManifestFor('ours', 'bench_state', composite);
    await generateMigrations({ client, manifest, migrationsDir: dir, policiesDir: path.join(dir, 'policies') });

    console.error(`ours: crm-tenancy migrate with ${connections} writers…`);
    const ours = await measure('ours', url, async () => {
      const r = await runMigrate({ databaseUrl: url, manifest, migrationsDir: dir, direction: 'up' });
      if (r.exitCode !== 0) throw new Error(`migrate refused: ${JSON.stringify(r.refused)}`);
    });
    console.error(`naive: plain CREATE INDEX, validated FK, direct SET NOT NULL with ${connections} writers…`);
    const naive = await measure('naive', url, async () => {
      for (const sql of naiveStatements('naive')) await client.query(sql);
    });

    const fmt = (o: Outcome) =>
      `${o.variant.padEnd(6)} | ${(o.ms / 1000).toFixed(2).padStart(8)} s | ${o.stats.longestStallMs.toFixed(0).padStart(8)} ms | ${String(o.stats.failed).padStart(6)} | ${String(o.stats.ops).padStart(8)}`;
    const ratio = naive.stats.longestStallMs / Math.max(1, ours.stats.longestStallMs);
    console.log(`\nmigrate benchmark: ${rows.toLocaleString('en-US')} rows in the biggest table, ${connections} writers (statement_timeout ${writerTimeout} ms)${composite ? ', composite keys' : ''}`);
    console.log('variant | migration  | longest stall | failed | writes ok');
    console.log(fmt(ours));
    console.log(fmt(naive));
    console.log(`naive/ours longest stall: ${ratio.toFixed(1)}×  (goal: ours ≤ 1000 ms, ratio ≥ 10×) → ${ours.stats.longestStallMs <= 1000 && ratio >= 10 ? 'MET' : 'NOT MET'}`);
    emitBenchResult('migrate', [
      { metric: 'longest writer stall, ours (ms)', value: ours.stats.longestStallMs, goal: '≤ 1000', pass: ours.stats.longestStallMs <= 1000 },
      { metric: 'longest writer stall, naive / ours', value: ratio, goal: '≥ 10', pass: ratio >= 10 },
      { metric: 'failed writer transactions, ours', value: ours.stats.failed, goal: '= 0', pass: ours.stats.failed === 0 },
    ]);
    if (naive.stats.errors.length > 0) console.log(`naive writer errors (first): ${naive.stats.errors[0]}`);
    if (ours.stats.errors.length > 0) console.log(`ours writer errors (first): ${ours.stats.errors[0]}`);
  } finally {
    await client.end().catch(() => {});
    await rm(dir, { recursive: true, force: true });
    await admin.query(`DROP DATABASE IF EXISTS ${ident(dbName)} WITH (FORCE)`).catch(() => {});
    await admin.end();
  }
}

await main();

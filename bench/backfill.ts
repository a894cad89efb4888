// Benchmark: our batched backfill vs one big UPDATE … FROM on identical copies; throughput ratio and batch p50/p99.
// Usage: npm run bench:backfill -- --rows 5000000 [--jobs 2] [--database-url URL] [--target-batch-ms 200] [--no-autovacuum] [--keep]
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { parseManifest } from '../src/config/manifest.js';
import { runBackfill } from '../src/backfill/backfill-runner.js';
import { percentile } from '../src/backfill/percentile.js';
import { ident } from '../src/db/quote.js';
import { startEmbeddedPostgres, type EmbeddedServer } from '../src/embedded/embedded-server.js';
import { emitBenchResult } from './lib/bench-result.js';

interface Args {
  rows: number;
  databaseUrl?: string;
  targetBatchMs: number;
  /** backfill --jobs: connections running batches at once (the single UPDATE is one statement on one). */
  jobs: number;
  keep: boolean;
  /** Keep autovacuum off on both copies (isolates the statements from vacuum triggered mid-run by the batches). */
  noAutovacuum: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { rows: 200_000, targetBatchMs: 200, jobs: 2, keep: false, noAutovacuum: false, databaseUrl: process.env.DATABASE_URL };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--rows') args.rows = Number(argv[++i]);
    else if (a === '--database-url') args.databaseUrl = argv[++i];
    else if (a === '--target-batch-ms') args.targetBatchMs = Number(argv[++i]);
    else if (a === '--keep') args.keep = true;
    else if (a === '--jobs') args.jobs = Number(argv[++i]);
    else if (a === '--no-autovacuum') args.noAutovacuum = true;
    else if (a === '--help') {
      console.log('npm run bench:backfill -- --rows N [--jobs N (2)] [--database-url URL] [--target-batch-ms MS] [--no-autovacuum] [--keep]');
      process.exit(0);
    }
  }
  if (!Number.isInteger(args.rows) || args.rows < 1000) throw new Error('--rows must be a whole number ≥ 1000');
  if (!Number.isInteger(args.jobs) || args.jobs < 1) throw new Error('--jobs must be a whole number ≥ 1');
  return args;
}

const TENANTS = 100;

/** tenants, parents (rows / 10, tenant set) and children (rows, tenant NULL) in one schema. */
async function createCopy(db: pg.Client, schema: string, rows: number, from?: string): Promise<void> {
  const s = ident(schema);
  await db.query(`CREATE SCHEMA ${s}`);
  await db.query(`CREATE TABLE ${s}.tenants (id integer PRIMARY KEY, name text NOT NULL)`);
  await db.query(`CREATE TABLE ${s}.parents (id bigint PRIMARY KEY, tenant_id integer NOT NULL REFERENCES ${s}.tenants, name text NOT NULL)`);
  await db.query(
    `CREATE TABLE ${s}.children (id bigint PRIMARY KEY, tenant_id integer REFERENCES ${s}.tenants, parent_id bigint NOT NULL REFERENCES ${s}.parents, payload text NOT NULL)`,
  );
  if (from) {
    const f = ident(from);
    for (const t of ['tenants', 'parents', 'children']) await db.query(`INSERT INTO ${s}.${t} SELECT * FROM ${f}.${t} ORDER BY id`);
  } else {
    const parents = Math.max(1, Math.floor(rows / 10));
    await db.query(`INSERT INTO ${s}.tenants SELECT i, 'tenant ' || i FROM generate_series(1, ${TENANTS}) i`);
    await db.query(`INSERT INTO ${s}.parents SELECT i, 1 + i % ${TENANTS}, 'parent ' || i FROM generate_series(1, $1::int) i`, [parents]);
    // Children point at scattered parents, as real data does.
    await db.query(
      `INSERT INTO ${s}.children SELECT i, NULL, 1 + (hashint4(i)::int8 & 2147483647) % $2, md5(i::text) FROM generate_series(1, $1::int) i`,
      [rows, parents],
    );
  }
  await db.query(`CREATE INDEX ON ${s}.children (parent_id)`);
  await db.query(`VACUUM ANALYZE ${s}.tenants, ${s}.parents, ${s}.children`);
}

async function checksum(db: pg.Client, schema: string): Promise<string> {
  const { rows } = await db.query(
    `SELECT md5(string_agg(id::text || ':' || coalesce(tenant_id::text, '-'), ',' ORDER BY id)) AS sum FROM ${ident(schema)}.children`,
  );
  return rows[0].sum;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  let server: EmbeddedServer | undefined;
  let adminUrl = args.databaseUrl;
  if (!adminUrl) {
    console.log('no --database-url / DATABASE_URL: starting an embedded PostgreSQL');
    server = await startEmbeddedPostgres();
    adminUrl = server.url;
  }
  const dbName = `crmt_bench_backfill_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${ident(dbName)}`);
  const url = new URL(adminUrl);
  url.pathname = `/${dbName}`;
  const db = new pg.Client({ connectionString: url.toString() });
  await db.connect();
  try {
    const { rows: v } = await db.query(`SELECT current_setting('server_version') AS v`);
    console.log(`PostgreSQL ${v[0].v}; ${args.rows.toLocaleString('en-US')} child rows with NULL tenant, ${Math.floor(args.rows / 10).toLocaleString('en-US')} parents`);
    let t0 = performance.now();
    await createCopy(db, 'bf_single', args.rows);
    await createCopy(db, 'bf_ours', args.rows, 'bf_single');
    console.log(`loaded two identical copies in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    if (args.noAutovacuum) {
      for (const s of ['bf_single', 'bf_ours']) await db.query(`ALTER TABLE ${ident(s)}.children SET (autovacuum_enabled = off)`);
      console.log('autovacuum off on both copies of children');
    }
    if ((await checksum(db, 'bf_single')) !== (await checksum(db, 'bf_ours'))) throw new Error('copies differ before the run');

    await db.query('CHECKPOINT');
    t0 = performance.now();
    const single = await db.query(
      `UPDATE bf_single.children c SET tenant_id = p.tenant_id FROM bf_single.parents p WHERE p.id = c.parent_id AND c.tenant_id IS NULL`,
    );
    const singleSec = (performance.now() - t0) / 1000;
    await db.query('CHECKPOINT');

    const manifest = parseManifest({
      schema: 'bf_ours',
      state_schema: 'bf_state',
      tenant: { table: 'tenants', key: 'id', column: 'tenant_id', setting: 'app.tenant_id' },
      roles: { app: ['bench_app'] },
      tables: { parents: {}, children: { backfill: ['parent_id'] } },
    });
    const durations: number[] = [];
    const sizes: number[] = [];
    t0 = performance.now();
    let lastPrint = 0;
    const result = await runBackfill({
      databaseUrl: url.toString(),
      manifest,
      targetBatchMs: args.targetBatchMs,
      jobs: args.jobs,
      onBatch: (e) => {
        if (e.table !== 'children') return;
        durations.push(e.ms);
        sizes.push(e.batchSize);
        const now = performance.now();
        if (now - lastPrint > 5000) {
          lastPrint = now;
          const done = sizes.reduce((a, b) => a + b, 0);
          process.stderr.write(`  … ${Math.min(done, args.rows).toLocaleString('en-US')} rows, batch size ${e.batchSize}, last batch ${e.ms.toFixed(0)} ms\n`);
        }
      },
    });
    const oursSec = (performance.now() - t0) / 1000;
    const filled = result.tables.find((t) => t.table === 'children')!.filled;
    const same = (await checksum(db, 'bf_single')) === (await checksum(db, 'bf_ours'));

    const singleRate = (single.rowCount ?? 0) / singleSec;
    const oursRate = filled / oursSec;
    const ratio = oursRate / singleRate;
    const p50 = percentile(durations, 50)!;
    const p99 = percentile(durations, 99)!;
    const max = Math.max(...durations);
    const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
    console.log('');
    console.log(`single UPDATE … FROM : ${fmt(single.rowCount ?? 0)} rows in ${singleSec.toFixed(1)} s = ${fmt(singleRate)} rows/s (one transaction, row locks on every row until the end)`);
    console.log(
      `crm-tenancy backfill : ${fmt(filled)} rows in ${oursSec.toFixed(1)} s = ${fmt(oursRate)} rows/s, ${durations.length} batches, --jobs ${args.jobs} (every change recorded for undo)`,
    );
    console.log(`throughput ratio     : ${ratio.toFixed(2)}× the single statement (goal ≥ 0.5×) ${ratio >= 0.5 ? 'OK' : 'MISSED'}`);
    console.log(`batch duration       : p50 ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms, max ${max.toFixed(0)} ms (goal p99 ≤ 200 ms) ${p99 <= 200 ? 'OK' : 'MISSED'}`);
    console.log(`batch size           : first ${sizes[0]}, median ${percentile(sizes, 50)}, last ${sizes[sizes.length - 1]}`);
    console.log(`same end result      : ${same ? 'yes (checksums equal)' : 'NO'}`);
    emitBenchResult('backfill', [
      { metric: 'throughput, backfill / single UPDATE', value: ratio, goal: '≥ 0.5', pass: ratio >= 0.5 },
      { metric: 'batch duration p99 (ms)', value: p99, goal: '≤ 200', pass: p99 <= 200 },
      { metric: 'same end result as the single UPDATE', value: same ? 1 : 0, goal: '= 1', pass: same },
    ]);
    if (!same) process.exitCode = 1;
  } finally {
    await db.end();
    if (!args.keep) await admin.query(`DROP DATABASE ${ident(dbName)} WITH (FORCE)`);
    else console.log(`kept database ${dbName}`);
    await admin.end();
    await server?.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

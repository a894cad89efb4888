// `npm run bench`: every benchmark at a small default scale, side by side, one table of ratios.
// Each benchmark prints a last `BENCH_RESULT {…}` line (bench/lib/bench-result.ts); this collects them.
// Server: DATABASE_URL, else the local PostgreSQL on 127.0.0.1:5432, else an embedded PostgreSQL.
import { spawn } from 'node:child_process';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedServer } from '../src/embedded/embedded-server.js';
import { RESULT_PREFIX, type BenchMetric } from './lib/bench-result.js';

const BENCHES: { name: string; args: string[] }[] = [
  { name: 'audit', args: ['--rows', '200000', '--runs', '1'] },
  { name: 'audit-since', args: ['--scale', '200', '--runs', '1'] },
  { name: 'migrate', args: ['--rows', '200000'] },
  { name: 'backfill', args: ['--rows', '200000'] },
  { name: 'rls', args: ['--scale', '100', '--iterations', '2000'] },
  { name: 'startup', args: [] },
];

async function reachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

function run(name: string, args: string[], url: string): Promise<{ code: number | null; results: BenchMetric[]; tail: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `bench/${name}.ts`, ...args, '--database-url', url], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      process.stderr.write(d);
    });
    child.on('close', (code) => {
      const line = out.split('\n').reverse().find((l) => l.startsWith(RESULT_PREFIX) || l.startsWith('{"bench"'));
      const parsed = line ? (JSON.parse(line.replace(RESULT_PREFIX, '')) as { results: BenchMetric[] }) : { results: [] };
      resolve({ code, results: parsed.results, tail: out.split('\n').slice(-5).join('\n') });
    });
  });
}

async function main(): Promise<void> {
  const only = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  let url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  let server: EmbeddedServer | undefined;
  if (!(await reachable(url))) {
    console.error('no reachable server (DATABASE_URL or 127.0.0.1:5432): starting an embedded PostgreSQL');
    server = await startEmbeddedPostgres();
    url = server.url;
  }
  const rows: string[][] = [];
  let failed = false;
  try {
    for (const bench of BENCHES.filter((b) => only.length === 0 || only.includes(b.name))) {
      console.error(`\n=== bench:${bench.name} ${bench.args.join(' ')}`);
      const started = Date.now();
      const r = await run(bench.name, bench.args, url);
      const secs = ((Date.now() - started) / 1000).toFixed(0);
      if (r.code !== 0 || r.results.length === 0) {
        failed = true;
        rows.push([bench.name, `did not finish (exit ${r.code})`, '', '', '✗', secs]);
        continue;
      }
      for (const m of r.results) {
        rows.push([bench.name, m.metric, Number.isInteger(m.value) ? String(m.value) : m.value.toFixed(3), m.goal, m.pass ? '✓' : '✗', secs]);
      }
    }
  } finally {
    await server?.stop();
  }
  const head = ['bench', 'metric', 'value', 'goal', 'met', 's'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  console.log(`\n${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  for (const r of rows) console.log(line(r));
  console.log('\n(small default scales: see each benchmark\'s --help for the sizes the goals are stated at)');
  process.exitCode = failed ? 1 : 0;
}

await main();

// `npm run bench:startup`: how fast the CLI starts — `--version`, `--help`, `audit --help`, process start to exit, median of 10.
// No database. Node's own start (`node -e ''`) is measured beside it: the part no CLI change can remove.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { emitBenchResult, type BenchMetric } from './lib/bench-result.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'bin', 'crm-tenancy.js');
const RUNS = Number(/--runs[= ](\d+)/.exec(process.argv.slice(2).join(' '))?.[1] ?? 10);
const GOAL_MS = 150;

/** Milliseconds from spawning `node args…` to its exit (stdout drained and discarded). */
function once(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NO_COLOR: '1' } });
    child.stdout.resume();
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`node ${args.join(' ')} exited ${code}`))));
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const CASES: { name: string; args: string[]; goal: boolean }[] = [
  { name: 'node -e ""  (Node alone)', args: ['-e', ''], goal: false },
  { name: 'crm-tenancy --version', args: [bin, '--version'], goal: true },
  { name: 'crm-tenancy --help', args: [bin, '--help'], goal: true },
  { name: 'crm-tenancy audit --help', args: [bin, 'audit', '--help'], goal: true },
];

// Interleaved (one run of each case per round), so a busy moment on the machine hits every case alike.
const times = new Map<string, number[]>(CASES.map((c) => [c.name, []]));
await once([bin, '--version']); // warm the file cache
for (let round = 0; round < RUNS; round++) {
  for (const c of CASES) times.get(c.name)!.push(await once(c.args));
}

const results: BenchMetric[] = [];
console.log(`start-up, process start to exit, median of ${RUNS} (min – max), goal ≤ ${GOAL_MS} ms`);
for (const c of CASES) {
  const xs = times.get(c.name)!;
  const m = median(xs);
  const verdict = c.goal ? (m <= GOAL_MS ? 'ok' : 'OVER GOAL') : '';
  console.log(`  ${c.name.padEnd(28)} ${m.toFixed(0).padStart(5)} ms  (${Math.min(...xs).toFixed(0)} – ${Math.max(...xs).toFixed(0)})  ${verdict}`);
  if (c.goal) results.push({ metric: `${c.name.replace('crm-tenancy ', '')} ms`, value: Math.round(m), goal: `≤ ${GOAL_MS}`, pass: m <= GOAL_MS });
}
emitBenchResult('startup', results);

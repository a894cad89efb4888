// Benchmark: indexed queries through the app role with the generated policies vs the owner with an explicit WHERE; plus a naive policy.
// Usage: npm run bench:rls -- [--scale 500] [--iterations 3000] [--connections 3] [--database-url URL] [--keep]
// Each variant runs on its own set of connections, used round-robin: one backend process per variant
// measured ±10-15% apart from another running the very same query (where the OS placed it), which
// swamped the policy's cost; the A/A column (the owner on a second set) shows what noise remains.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { parseManifestText } from '../src/config/manifest.js';
import { resolveLiveContext } from '../src/config/live-context.js';
import { ident } from '../src/db/quote.js';
import { startEmbeddedPostgres, type EmbeddedServer } from '../src/embedded/embedded-server.js';
import { applyPolicies } from '../src/policies/apply.js';
import { writePolicyFiles } from '../src/policies/policy-files.js';
import { loadSampleCrm } from '../src/sample/sample-crm.js';
import { sampleManifestText } from '../test/policies/fixture.js';
import { prepareSampleAfterRollout } from '../test/policies/post-rollout.js';
import { emitBenchResult } from './lib/bench-result.js';

interface Args {
  scale: number;
  iterations: number;
  connections: number;
  databaseUrl?: string;
  keep: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { scale: 500, iterations: 3000, connections: 3, keep: false, databaseUrl: process.env.DATABASE_URL };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--scale') args.scale = Number(argv[++i]);
    else if (a === '--iterations') args.iterations = Number(argv[++i]);
    else if (a === '--connections') args.connections = Number(argv[++i]);
    else if (a === '--database-url') args.databaseUrl = argv[++i];
    else if (a === '--keep') args.keep = true;
    else if (a === '--help') {
      console.log('npm run bench:rls -- [--scale N] [--iterations N] [--connections N (per variant, round-robin)] [--database-url URL] [--keep]');
      process.exit(0);
    }
  }
  if (!Number.isInteger(args.scale) || args.scale < 1) throw new Error('--scale must be a whole number ≥ 1');
  if (!Number.isInteger(args.iterations) || args.iterations < 100) throw new Error('--iterations must be ≥ 100');
  if (!Number.isInteger(args.connections) || args.connections < 1 || args.connections > 20) throw new Error('--connections must be from 1 to 20');
  return args;
}

interface Case {
  name: string;
  /** Through a role with a policy: no tenant filter in the SQL. */
  policySql: string;
  /** As the owner (bypasses RLS): the explicit filter the application used to write. */
  ownerSql: string;
  params: (tenant: number, id: number) => unknown[];
  ownerParams: (tenant: number, id: number) => unknown[];
}

const CASES: Case[] = [
  {
    name: 'point: deal by id',
    policySql: 'SELECT * FROM deals WHERE id = $1',
    ownerSql: 'SELECT * FROM deals WHERE id = $1 AND company_id = $2',
    params: (_t, id) => [id],
    ownerParams: (t, id) => [id, t],
  },
  {
    name: 'range: latest 20 deals',
    policySql: 'SELECT id, title, value FROM deals ORDER BY id DESC LIMIT 20',
    ownerSql: 'SELECT id, title, value FROM deals WHERE company_id = $1 ORDER BY id DESC LIMIT 20',
    params: () => [],
    ownerParams: (t) => [t],
  },
  {
    name: 'range: count activities',
    policySql: 'SELECT count(*) FROM activities',
    ownerSql: 'SELECT count(*) FROM activities WHERE company_id = $1',
    params: () => [],
    ownerParams: (t) => [t],
  },
  {
    name: 'range: contacts by name prefix',
    policySql: `SELECT id, first_name FROM contacts WHERE last_name LIKE 'S%' ORDER BY id LIMIT 50`,
    ownerSql: `SELECT id, first_name FROM contacts WHERE company_id = $1 AND last_name LIKE 'S%' ORDER BY id LIMIT 50`,
    params: () => [],
    ownerParams: (t) => [t],
  },
];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const p95 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)];

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  let server: EmbeddedServer | undefined;
  let adminUrl = args.databaseUrl;
  if (!adminUrl) {
    console.log('no --database-url / DATABASE_URL: starting an embedded PostgreSQL');
    server = await startEmbeddedPostgres();
    adminUrl = server.url;
  }
  const suffix = randomBytes(3).toString('hex');
  const dbName = `crmt_bench_rls_${suffix}`;
  const app = `crmt_bench_app_${suffix}`;
  const support = `crmt_bench_support_${suffix}`;
  const naive = `crmt_bench_naive_${suffix}`;
  const plain = `crmt_bench_plain_${suffix}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${ident(dbName)}`);
  const url = new URL(adminUrl);
  url.pathname = `/${dbName}`;
  const clients: pg.Client[] = [];
  const open = async () => {
    const c = new pg.Client({ connectionString: url.toString() });
    await c.connect();
    clients.push(c);
    return c;
  };
  let dir: string | undefined;
  try {
    const db = await open();
    const { rows: v } = await db.query(`SELECT current_setting('server_version') AS v`);
    let t0 = performance.now();
    const loaded = await loadSampleCrm(db, { scale: args.scale });
    const manifest = parseManifestText(await sampleManifestText({ app, support }, false), 'bench.yaml');
    await prepareSampleAfterRollout(db, manifest);
    console.log(
      `PostgreSQL ${v[0].v}; sample CRM ×${args.scale} (${loaded.rows.toLocaleString('en-US')} rows, ${args.scale * 2} companies) ` +
        `loaded and rolled out in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    // The generated policies, applied the way users apply them.
    dir = await mkdtemp(path.join(os.tmpdir(), 'crmt-bench-rls-'));
    await writePolicyFiles({ live: await resolveLiveContext(db, manifest), dir });
    const applied = await applyPolicies({ client: db, manifest, policiesDir: dir });
    if (!applied.ok) throw new Error(`policies apply failed: ${JSON.stringify(applied.refusals)}`);
    // The naive policy for contrast: a VOLATILE function called for every row (no index on the tenant).
    await db.query(`CREATE ROLE ${ident(naive)} NOLOGIN`);
    await db.query(`CREATE FUNCTION bench_current_company() RETURNS integer LANGUAGE plpgsql VOLATILE AS
      $$ BEGIN RETURN nullif(current_setting('app.current_company_id', true), '')::integer; END $$`);
    for (const t of ['deals', 'activities', 'contacts']) {
      await db.query(`CREATE POLICY naive ON ${ident(t)} FOR ALL TO ${ident(naive)} USING (company_id = bench_current_company())`);
      await db.query(`GRANT SELECT ON ${ident(t)} TO ${ident(naive)}`);
    }
    // A non-superuser that bypasses RLS, with the explicit WHERE: separates the cost of privilege
    // checks (which a superuser owner skips) from the cost of the policy itself.
    await db.query(`CREATE ROLE ${ident(plain)} NOLOGIN BYPASSRLS`);
    await db.query(`GRANT SELECT ON deals, activities, contacts TO ${ident(plain)}`);
    await db.query('ANALYZE');

    // The tenant with the most deals, and one of its deals.
    const { rows: pick } = await db.query<{ t: number; id: number }>(
      `SELECT company_id AS t, max(id) AS id FROM deals GROUP BY company_id ORDER BY count(*) DESC, company_id LIMIT 1`,
    );
    const tenant = pick[0].t;
    const dealId = pick[0].id;
    // Each variant on its own set of connections, used round-robin (see the header).
    type Variant = 'owner' | 'control' | 'app' | 'naive' | 'plain';
    const roleOf: Record<Variant, string | null> = { owner: null, control: null, app, naive, plain };
    const sets = {} as Record<Variant, pg.Client[]>;
    for (const which of Object.keys(roleOf) as Variant[]) {
      sets[which] = [];
      for (let i = 0; i < args.connections; i++) {
        const c = await open();
        const role = roleOf[which];
        if (role) await c.query(`SET ROLE ${ident(role)}`);
        if (which === 'app' || which === 'naive') await c.query(`SELECT set_config('app.current_company_id', $1, false)`, [String(tenant)]);
        sets[which].push(c);
      }
    }
    const [owner, asApp] = [sets.owner[0], sets.app[0]];
    console.log(
      `tenant ${tenant}; ${args.iterations} iterations per query and variant, alternating, after 200 warm-up rounds; ` +
        `${args.connections} connection${args.connections === 1 ? '' : 's'} per variant, round-robin\n`,
    );

    const rows: string[][] = [];
    let worst = 0;
    let worstControl = 0;
    let statement = 0;
    for (const [kase, prepared] of CASES.flatMap((k) => [[k, false], [k, true]] as const)) {
      // Same answers first: the policy must return what the explicit WHERE returns.
      const a = await asApp.query(kase.policySql, kase.params(tenant, dealId));
      const o = await owner.query(kase.ownerSql, kase.ownerParams(tenant, dealId));
      if (JSON.stringify(a.rows) !== JSON.stringify(o.rows)) throw new Error(`${kase.name}: the policy returns different rows than the explicit WHERE`);
      const plan = await asApp.query(`EXPLAIN (COSTS OFF) ${kase.policySql}`, kase.params(tenant, dealId));
      const planText = plan.rows.map((r) => r['QUERY PLAN']).join(' | ');
      const naiveRounds = Math.max(20, Math.floor(args.iterations / 20)); // it is slow; fewer rounds suffice
      const times: Record<Variant, number[]> = { owner: [], control: [], app: [], naive: [], plain: [] };
      // Prepared: named statements, parsed and planned once per connection (what ORMs and drivers do).
      const name = `bench_${statement++}`;
      const run = async (which: Variant, i: number) => {
        const c = sets[which][i % args.connections];
        const explicit = which === 'owner' || which === 'control' || which === 'plain';
        const text = explicit ? kase.ownerSql : kase.policySql;
        const values = explicit ? kase.ownerParams(tenant, dealId) : kase.params(tenant, dealId);
        const t = performance.now();
        await c.query(prepared ? { name: `${name}_${which}`, text, values } : { text, values });
        return performance.now() - t;
      };
      for (let i = 0; i < 200; i++) for (const which of ['owner', 'control', 'app', 'plain'] as const) await run(which, i);
      for (let i = 0; i < args.iterations; i++) {
        // Alternate which goes first, so neither always benefits from the other's warm cache.
        const order: Variant[] = i % 2 === 0 ? ['owner', 'app', 'control', 'plain'] : ['plain', 'control', 'app', 'owner'];
        for (const which of order) times[which].push(await run(which, i));
        if (i < naiveRounds) times.naive.push(await run('naive', i));
      }
      const ratio = median(times.app) / median(times.owner);
      const control = median(times.control) / median(times.owner);
      worst = Math.max(worst, ratio);
      worstControl = Math.max(worstControl, Math.abs(control - 1));
      rows.push([
        `${kase.name}${prepared ? ' (prepared)' : ''}`,
        `${(median(times.owner) * 1000).toFixed(0)} µs`,
        `${(median(times.app) * 1000).toFixed(0)} µs`,
        ratio.toFixed(3),
        control.toFixed(3),
        `${(p95(times.owner) * 1000).toFixed(0)} / ${(p95(times.app) * 1000).toFixed(0)} µs`,
        `${(median(times.plain) * 1000).toFixed(0)} µs (${(median(times.app) / median(times.plain)).toFixed(3)})`,
        `${(median(times.naive) * 1000).toFixed(0)} µs (×${(median(times.naive) / median(times.owner)).toFixed(1)})`,
      ]);
      if (!prepared) console.log(`${kase.name}: app-role plan: ${planText}`);
    }
    const head = ['query', 'owner + WHERE (median)', 'app role + policy (median)', 'ratio', 'A/A owner/owner', 'p95 owner / app', 'BYPASSRLS role + WHERE (app ratio)', 'naive policy (median)'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
    console.log(`\n${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`);
    for (const r of rows) console.log(line(r));
    console.log(`\nworst median ratio ${worst.toFixed(3)} (goal ≤ 1.10): ${worst <= 1.1 ? 'met' : 'NOT met'}; the A/A control (the same query on two connection sets) is within ±${worstControl.toFixed(3)}`);
    emitBenchResult('rls', [
      { metric: 'app role + policy / owner + WHERE, worst median', value: worst, goal: '≤ 1.10', pass: worst <= 1.1 },
      { metric: 'A/A control: owner / owner on another connection set, worst deviation', value: worstControl, goal: '(noise)', pass: true },
    ]);
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
    if (!args.keep) {
      await admin.query(`DROP DATABASE IF EXISTS ${ident(dbName)} WITH (FORCE)`);
      for (const role of [app, support, naive, plain]) await admin.query(`DROP ROLE IF EXISTS ${ident(role)}`).catch(() => {});
    } else {
      console.log(`kept database ${dbName}`);
    }
    await admin.end();
    await server?.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

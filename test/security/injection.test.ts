// Names can never become SQL (issue #12, hole 1): the exact attack, the same attack through the catalog,
// and a property test feeding hostile names through generate, migrate --dry-run and the policy files.
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { loadModule, parseSync } from 'libpg-query';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseManifest, type Manifest } from '../../src/config/manifest.js';
import { resolveLiveContext } from '../../src/config/live-context.js';
import { commentName, ident, literal, qualified, regclassText } from '../../src/db/quote.js';
import { parseMigrationText } from '../../src/migrate/migration-file.js';
import { planTenancy } from '../../src/migrate/plan.js';
import { renderMigrations } from '../../src/migrate/render.js';
import { runMigrate } from '../../src/migrate/runner.js';
import { bypassPolicyName, policyTargets, renderPolicyBody } from '../../src/policies/policy-sql.js';
import { renderPolicyFile } from '../../src/policies/policy-files.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';

const ATTACK = 'notes\nDELETE FROM public.victim; --';
/** Lines that would run the injected statement if a name had ended a comment or a quote. */
const deleteLines = (text: string): string[] => text.split(/\r\n|[\n\r\u2028\u2029]/u).filter((l) => /^\s*DELETE\b/i.test(l));
const tempDir = (prefix: string) => mkdtemp(path.join(os.tmpdir(), `crmt-${prefix}-`));

async function victimRows(db: { query: (sql: string) => Promise<{ rows: { n: number }[] }> }): Promise<number> {
  return (await db.query(`SELECT count(*)::int AS n FROM public.victim`)).rows[0].n;
}

beforeAll(async () => {
  await loadModule();
});

describe('the attack of issue #12: a table named `notes⏎DELETE FROM public.victim; --` in the manifest', () => {
  const db = useTestDatabase();

  it('is refused before any SQL (exit 2, the name escaped); migrate --dry-run shows no DELETE; victim keeps its rows', async () => {
    const c = db().client;
    await c.query(`CREATE TABLE public.companies (id bigint PRIMARY KEY)`);
    await c.query(`CREATE TABLE public.victim (id int PRIMARY KEY); INSERT INTO public.victim VALUES (1), (2), (3)`);
    await c.query(`CREATE TABLE ${qualified('public', ATTACK)} (id bigint PRIMARY KEY, body text)`);
    const dir = await tempDir('attack');
    const config = path.join(dir, 'tenancy.yaml');
    await writeFile(
      config,
      `tenant: {table: companies, key: id, column: company_id, setting: app.current_company_id}
roles: {app: [crm_app]}
tables:
  ${JSON.stringify(ATTACK)}: {}
`,
    );
    const common = ['--config', config, '--database-url', db().url, '--migrations-dir', path.join(dir, 'migrations')];
    const runs = [
      await runCli(['generate', ...common, '--policies-dir', path.join(dir, 'policies')]),
      await runCli(['migrate', '--dry-run', ...common]),
      await runCli(['migrate', ...common]),
    ];
    for (const r of runs) {
      expect(r.code).toBe(2);
      expect(deleteLines(r.stdout + r.stderr)).toEqual([]);
      expect(r.stderr).toContain('tables."notes\\nDELETE FROM public.victim; --": identifier contains a control character');
    }
    expect(await victimRows(c)).toBe(3);
  });
});

describe('the same attack through the catalog (names the manifest never sees)', () => {
  const db = useTestDatabase();
  // A foreign-key constraint that composite keys replace (dropped in up, recreated in down), and a
  // column the generated names are built from. A raw newline here once let the down section start early.
  const FK = 'fk */\n-- Down Migration\nDELETE FROM public.victim; --';
  const COLUMN = 'contact\u2028-- Down Migration\u2028DELETE FROM public.victim; --';

  it('generate, migrate --dry-run, migrate up and down run exactly the intended statements', async () => {
    const c = db().client;
    await c.query(`
      CREATE TABLE public.victim (id int PRIMARY KEY); INSERT INTO public.victim VALUES (1), (2), (3);
      CREATE TABLE public.companies (id bigint PRIMARY KEY); INSERT INTO public.companies VALUES (1), (2);
      CREATE TABLE public.contacts (id bigint PRIMARY KEY, company_id bigint NOT NULL REFERENCES public.companies (id));
      INSERT INTO public.contacts VALUES (1, 1), (2, 2);
      CREATE TABLE public.deals (id bigint PRIMARY KEY, company_id bigint NOT NULL REFERENCES public.companies (id),
        ${ident(COLUMN)} bigint CONSTRAINT ${ident(FK)} REFERENCES public.contacts (id));
      INSERT INTO public.deals VALUES (1, 1, 1), (2, 2, 2);`);
    const dir = await tempDir('catalog');
    const config = path.join(dir, 'tenancy.yaml');
    await writeFile(
      config,
      `tenant: {table: companies, key: id, column: company_id, setting: app.current_company_id, composite_keys: true}
roles: {app: [crm_app]}
tables: {contacts: {}, deals: {}}
`,
    );
    const migrations = path.join(dir, 'migrations');
    const common = ['--config', config, '--database-url', db().url, '--migrations-dir', migrations];
    const generated = await runCli(['generate', ...common, '--policies-dir', path.join(dir, 'policies')]);
    expect(generated.code, generated.stderr).toBe(0);
    for (const f of await readdir(migrations)) {
      const text = await readFile(path.join(migrations, f), 'utf8');
      expect(deleteLines(text)).toEqual([]);
      expect(text).not.toMatch(/[\r\u2028\u2029]/u);
      // What our splitter runs is what PostgreSQL parses the file as: no extra statement anywhere.
      const parsed = parseMigrationText(text, f);
      const units = [...parsed.up, ...parsed.down].flatMap((u) => (parseSync(u.sql) as { stmts: unknown[] }).stmts);
      expect(units).toHaveLength((parseSync(text) as { stmts: unknown[] }).stmts.length);
    }

    const dry = await runCli(['migrate', '--dry-run', ...common]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('DROP CONSTRAINT IF EXISTS U&"fk */\\000a-- Down Migration\\000aDELETE FROM public.victim; --"');
    expect(deleteLines(dry.stdout + dry.stderr)).toEqual([]);

    const up = await runCli(['migrate', ...common]);
    expect(up.code, up.stdout + up.stderr).toBe(0);
    expect(await victimRows(c)).toBe(3);
    const constraints = async () =>
      (await c.query<{ conname: string }>(`SELECT conname FROM pg_catalog.pg_constraint WHERE conrelid = 'public.deals'::regclass AND contype = 'f' ORDER BY 1`)).rows.map(
        (r) => r.conname,
      );
    expect(await constraints()).not.toContain(FK);
    expect((await constraints()).length).toBe(2); // company_id → companies, and the composite one

    const down = await runCli(['migrate', 'down', ...common]);
    expect(down.code, down.stdout + down.stderr).toBe(0);
    expect(await victimRows(c)).toBe(3);
    // The down section recreated the constraint under its exact name.
    expect(await constraints()).toContain(FK);
  });

  it('U& identifiers and E strings read the same with standard_conforming_strings off', async () => {
    const c = db().client;
    const name = 'x\n\\y"\u2028z';
    await c.query(`SET standard_conforming_strings = off`);
    try {
      await c.query(`CREATE TABLE public.${ident(name)} (v text)`);
      await c.query(`INSERT INTO public.${ident(name)} VALUES (${literal(name)})`);
      const r = await c.query(
        `SELECT v, to_regclass(${literal(regclassText('public', name))})::oid = (SELECT oid FROM pg_catalog.pg_class WHERE relname = ${literal(name)}) AS same FROM public.${ident(name)}`,
      );
      expect(r.rows).toEqual([{ v: name, same: true }]);
    } finally {
      await c.query(`RESET standard_conforming_strings`);
    }
    const r = await c.query(`SELECT relname FROM pg_catalog.pg_class WHERE oid = to_regclass($1)`, [regclassText('public', name)]);
    expect(r.rows).toEqual([{ relname: name }]);
  });
});

describe('names at the 63-byte limit are never truncated into collisions', () => {
  const db = useTestDatabase();

  it('generated index, constraint and policy names stay distinct and within 63 bytes', async () => {
    const c = db().client;
    const long = (tail: string) => `${'é'.repeat(30)}${tail}`; // 62 bytes: the same first 60 for both tables
    const [a, b] = [long('ab'), long('ac')];
    await c.query(`CREATE TABLE public.companies (id bigint PRIMARY KEY)`);
    for (const t of [a, b]) await c.query(`CREATE TABLE public.${ident(t)} (id bigint PRIMARY KEY, ${ident(long('c'))} text)`);
    const roles = [`${'r'.repeat(62)}1`, `${'r'.repeat(62)}2`];
    const manifest = parseManifest({
      tenant: { table: 'companies', key: 'id', column: `company_${'x'.repeat(50)}_id`, setting: 'app.current_company_id' },
      roles: { app: ['crm_app'], bypass: { [roles[0]]: 'support', [roles[1]]: 'audit' } },
      tables: { [a]: { unique: [[long('c')]] }, [b]: { unique: [[long('c')]] } },
    });
    const live = await resolveLiveContext(c, manifest);
    const plan = planTenancy(live);
    const made = plan.steps.flatMap((s) => ('name' in s ? [s.name] : 'checkName' in s ? [s.checkName] : []));
    const relationNames = plan.steps.flatMap((s) => (s.kind === 'create-index' || s.kind === 'unique' ? [s.name] : []));
    expect(made.length).toBeGreaterThanOrEqual(8);
    for (const name of made) expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
    expect(new Set(relationNames).size).toBe(relationNames.length);
    for (const t of [a, b]) {
      const own = plan.steps.filter((s) => s.table === t && (s.kind === 'add-tenant-fk' || s.kind === 'not-null'));
      const names = own.map((s) => ('name' in s ? s.name : (s as { checkName: string }).checkName));
      expect(new Set(names).size).toBe(names.length);
    }
    const policies = roles.map(bypassPolicyName);
    expect(new Set(policies).size).toBe(2);
    for (const p of policies) expect(Buffer.byteLength(p)).toBeLessThanOrEqual(63);
    // Run for real: every name reaches PostgreSQL as generated (a truncation would make two indexes clash).
    const files = renderMigrations(live, plan.steps, { firstIndex: 1 });
    const dir = await tempDir('limit');
    for (const f of files) await writeFile(path.join(dir, f.fileName), f.text);
    const expand = await runMigrate({ databaseUrl: db().url, manifest, migrationsDir: dir, direction: 'up', count: 2 });
    expect(expand.exitCode).toBe(0);
    const indexes = await c.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_catalog.pg_class c WHERE c.relkind = 'i' AND c.relname = ANY($1::text[])`,
      [plan.steps.filter((s) => s.kind === 'create-index').map((s) => (s as { name: string }).name)],
    );
    expect(indexes.rows).toHaveLength(2);
  });
});

// ─── property: hostile names through generate (render), migrate --dry-run and the policy files ───

type Names = Record<(typeof FIELDS)[number], string>;
/** Names the manifest declares (no control characters) … */
const MANIFEST_FIELDS = ['schema', 'tenant', 'key', 'column', 'parent', 'child', 'unique', 'app', 'bypass'] as const;
/** … and names only the catalog holds (anything PostgreSQL allows), plus free text. */
const CATALOG_FIELDS = ['parentId', 'childId', 'fkColumn', 'fkName', 'policy', 'value', 'reason'] as const;
const FIELDS = [...MANIFEST_FIELDS, ...CATALOG_FIELDS] as const;

const BREAKS = ['\n', '\r', '\r\n', '\u2028', '\u2029', '\u0085', '\t', '\u007f'];
const MARKERS = ['*/', '/*', '--', '"', "'", '\\', ';', '$$', '$x$', 'U&', "E'", 'é', '😀', ' DELETE FROM public.victim; --'];
const fit = (s: string): string => {
  let out = '';
  for (const ch of s) if (Buffer.byteLength(out + ch) <= 63) out += ch;
  return out;
};
const nameArb = (pieces: string[], unsafe: boolean) =>
  fc
    .tuple(fc.constantFrom(...pieces), fc.array(fc.oneof(fc.constantFrom(...pieces), fc.string({ unit: 'binary', maxLength: 3 })), { maxLength: 6 }), fc.boolean())
    .map(([piece, rest, long]) => {
      let name = [...rest.slice(0, 1), piece, ...rest.slice(1)].join('').replace(/\u0000/g, '');
      if (!unsafe) name = name.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/gu, '');
      return fit(long ? `${name}${'é'.repeat(32)}` : name);
    })
    .filter((s) => s.length > 0 && (unsafe || !['public', 'none'].includes(s)));
const namesArb = fc
  .tuple(
    fc.uniqueArray(nameArb(MARKERS, false), { minLength: MANIFEST_FIELDS.length, maxLength: MANIFEST_FIELDS.length }),
    fc.uniqueArray(nameArb([...MARKERS, ...BREAKS], true), { minLength: CATALOG_FIELDS.length, maxLength: CATALOG_FIELDS.length }),
  )
  .filter(([a, b]) => new Set([...a, ...b]).size === a.length + b.length)
  .map(([a, b]) => Object.fromEntries([...MANIFEST_FIELDS.map((f, i) => [f, a[i]]), ...CATALOG_FIELDS.map((f, i) => [f, b[i]])]) as Names)
  // A reason is free text, not a name, but must say something (the manifest refuses blank reasons).
  .map((n) => ({ ...n, reason: `support ${n.reason}` }));

const TWIN: Names = Object.fromEntries(FIELDS.map((f) => [f, `twin_${f.toLowerCase()}`])) as Names;

async function createShape(db: { query: (sql: string) => Promise<unknown> }, n: Names): Promise<void> {
  const q = (name: string) => qualified(n.schema, name);
  await db.query(`CREATE SCHEMA ${ident(n.schema)}`);
  await db.query(`CREATE TABLE ${q(n.tenant)} (${ident(n.key)} bigint PRIMARY KEY)`);
  await db.query(`CREATE TABLE ${q(n.parent)} (${ident(n.parentId)} bigserial PRIMARY KEY, ${ident(n.unique)} text)`);
  await db.query(
    `CREATE TABLE ${q(n.child)} (${ident(n.childId)} bigint PRIMARY KEY, ${ident(n.column)} bigint REFERENCES ${q(n.tenant)} (${ident(n.key)}),
       ${ident(n.fkColumn)} bigint CONSTRAINT ${ident(n.fkName)} REFERENCES ${q(n.parent)} (${ident(n.parentId)}))`,
  );
  await db.query(`CREATE POLICY ${ident(n.policy)} ON ${q(n.parent)} FOR SELECT USING (${ident(n.unique)} <> ${literal(n.value)})`);
}

function manifestOf(n: Names): Manifest {
  return parseManifest({
    schema: n.schema,
    tenant: { table: n.tenant, key: n.key, column: n.column, setting: 'app.current_tenant', composite_keys: true },
    roles: { app: [n.app], bypass: { [n.bypass]: n.reason } },
    tables: { [n.parent]: { unique: [[n.unique]] }, [n.child]: {} },
  });
}

interface Outputs {
  /** Every text we print that holds SQL: migration files, policy files, migrate --dry-run. */
  texts: string[];
  /** Plan steps and policy targets: the names we made up (index, constraint, policy names) pair up through them. */
  structure: unknown[];
}

async function outputs(client: Parameters<typeof resolveLiveContext>[0], url: string, n: Names): Promise<Outputs> {
  const manifest = manifestOf(n);
  const live = await resolveLiveContext(client, manifest);
  const plan = planTenancy(live);
  const files = renderMigrations(live, plan.steps, { firstIndex: 1, generatedAt: new Date(0) });
  const targets = policyTargets(live);
  const policies = targets.map((t) => renderPolicyFile(t.schema, t.table, renderPolicyBody(t)));
  const dir = await tempDir('prop');
  for (const f of files) await writeFile(path.join(dir, f.fileName), f.text);
  const dry = await runMigrate({ databaseUrl: url, manifest, migrationsDir: dir, direction: 'up', dryRun: true });
  return { texts: [...files.map((f) => f.text), ...policies, dry.sql ?? ''], structure: [plan.steps, plan.skipped, targets] };
}

/** Pairs the strings of two same-shaped values (hostile → twin); a shape difference is a failure. */
function pairStrings(a: unknown, b: unknown, map: Map<string, string>, where = '$'): void {
  if (typeof a === 'string' && typeof b === 'string') {
    const seen = map.get(a);
    if (seen !== undefined && seen !== b) throw new Error(`${where}: ${JSON.stringify(a)} pairs with ${JSON.stringify(seen)} and ${JSON.stringify(b)}`);
    map.set(a, b);
  } else if (Array.isArray(a) && Array.isArray(b)) {
    expect(a.length, `${where}: length`).toBe(b.length);
    for (const [i, x] of a.entries()) pairStrings(x, b[i], map, `${where}[${i}]`);
  } else if (a && b && typeof a === 'object' && typeof b === 'object') {
    expect(Object.keys(a).sort(), `${where}: keys`).toEqual(Object.keys(b).sort());
    for (const k of Object.keys(a)) pairStrings((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], map, `${where}.${k}`);
  } else {
    expect(a, where).toEqual(b);
  }
}

/** Strings to map back to the plain names: names, and the texts string constants hold (regclass text in to_regclass, display names elsewhere). */
interface NameMap {
  names: Map<string, string>;
  regclass: Map<string, string>;
  display: Map<string, string>;
}
const NO_NAMES: NameMap = { names: new Map(), regclass: new Map(), display: new Map() };

/** A parse tree without positions, every string mapped; DO bodies parsed line by line (a name never spans lines). */
function normalize(node: unknown, map: NameMap, inRegclass = false): unknown {
  if (typeof node === 'string') {
    return (inRegclass ? map.regclass.get(node) : undefined) ?? map.names.get(node) ?? (inRegclass ? undefined : map.display.get(node)) ?? node;
  }
  if (Array.isArray(node)) return node.map((x) => normalize(x, map, inRegclass));
  if (!node || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  const call = (node as { FuncCall?: { funcname?: { String?: { sval?: string } }[] } }).FuncCall;
  const regclass = inRegclass || call?.funcname?.at(-1)?.String?.sval === 'to_regclass';
  for (const [k, v] of Object.entries(node)) {
    if (k === 'location' || k === 'stmt_location' || k === 'stmt_len') continue;
    out[k] = k === 'DoStmt' ? doBody(v as DoStmt, map) : normalize(v, map, regclass);
  }
  return out;
}
interface DoStmt {
  args: { DefElem: { arg: { String: { sval: string } } } }[];
}
function doBody(stmt: DoStmt, map: NameMap): unknown {
  expect(stmt.args).toHaveLength(1);
  return stmt.args[0].DefElem.arg.String.sval.split('\n').map((line) => {
    let m = /^ {2}IF (NOT )?EXISTS (\(.*\)) THEN$/.exec(line);
    if (m) return { if: m[1] ?? '', cond: normalize(parseSync(`SELECT EXISTS ${m[2]}`), map) };
    m = /^ {4}RAISE EXCEPTION (.*);$/.exec(line);
    if (m) return { raise: normalize(parseSync(`SELECT ${m[1]}`), map) };
    m = /^ {4}(.*;)$/.exec(line);
    if (m) return { stmt: normalize(parseSync(m[1]), map) };
    expect(['', 'BEGIN', '  END IF;', 'END']).toContain(line);
    return line;
  });
}

/** The first path where two trees differ, with both values; undefined when equal. */
function difference(a: unknown, b: unknown, where = '$'): string | undefined {
  if (Object.is(a, b)) return undefined;
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) {
      const d = difference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${where}.${k}`);
      if (d) return d;
    }
    return undefined;
  }
  return `${where}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
}

const UNSAFE_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/u;
const isComment = (line: string) => /^\s*--/.test(line);

describe('hostile names through generate, migrate --dry-run and the policy files (property)', () => {
  const db = useTestDatabase();
  let twin: Outputs;

  beforeAll(async () => {
    await createShape(db().client, TWIN);
    twin = await outputs(db().client, db().url, TWIN);
  });

  it('the SQL parses to exactly the statements of plain names, every identifier round-trips, no name ends a comment', async () => {
    const client = db().client;
    await fc.assert(
      fc.asyncProperty(namesArb, async (n) => {
        await createShape(client, n);
        try {
          const hostile = await outputs(client, db().url, n);
          const names = new Map<string, string>();
          pairStrings({ ...n }, { ...TWIN }, names);
          pairStrings(hostile.structure, twin.structure, names);
          names.set(bypassPolicyName(n.bypass), bypassPolicyName(TWIN.bypass));
          const map: NameMap = { names, regclass: new Map(), display: new Map() };
          // Names inside string constants: regclass text (to_regclass) and display names (RAISE messages).
          for (const [h, t] of names) {
            try {
              map.regclass.set(regclassText(n.schema, h), regclassText(TWIN.schema, t));
              map.display.set(commentName(n.schema, h), commentName(TWIN.schema, t));
            } catch {
              // not an identifier (a reason, a definition): never inside a constant
            }
          }
          expect(hostile.texts).toHaveLength(twin.texts.length);
          hostile.texts.forEach((text, i) => {
            const plain = twin.texts[i];
            // Text: the same lines, comments where the plain text has comments; no raw break but \n.
            expect(text).not.toMatch(UNSAFE_BUT_NEWLINE);
            const lines = text.split('\n');
            const plainLines = plain.split('\n');
            expect(lines.length).toBe(plainLines.length);
            expect(lines.map(isComment)).toEqual(plainLines.map(isComment));
            expect(deleteLines(text)).toEqual([]);
            // PostgreSQL's view: the same statements, the same names (mapped back to the plain ones).
            expect(difference(normalize(parseSync(text), map), normalize(parseSync(plain), NO_NAMES))).toBeUndefined();
            // The runner's view of a migration file: the same units, each one the same statements.
            if (text.includes('-- Up Migration')) {
              const ours = parseMigrationText(text, 'h');
              const theirs = parseMigrationText(plain, 't');
              for (const section of ['up', 'down'] as const) {
                const mine = ours[section].map((u) => normalize(parseSync(u.sql), map));
                expect(difference(mine, theirs[section].map((u) => normalize(parseSync(u.sql), NO_NAMES)))).toBeUndefined();
              }
              expect(ours.meta).not.toBeNull();
            }
          });
        } finally {
          await client.query(`DROP SCHEMA ${ident(n.schema)} CASCADE`);
        }
      }),
      { numRuns: 20 },
    );
  });
});

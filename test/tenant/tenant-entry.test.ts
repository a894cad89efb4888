// `crm-tenancy/tenant`: an application imports withTenant without loading the toolkit (node-pg-migrate, zod, yaml).
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/cli.js';
import { moduleLogHook } from '../support/module-log.js';

let dir: string;
let importArg: string;

beforeAll(async () => {
  ({ dir, importArg } = await moduleLogHook('crmt-tenant-entry-'));
});

/** Runs `import(specifier)` in a fresh node inside the package; returns every module URL resolved and the exports. */
async function load(specifier: string, name: string): Promise<{ modules: string[]; exports: string[] }> {
  const log = path.join(dir, `${name}.log`);
  await writeFile(log, '');
  const code = `const m = await import(${JSON.stringify(specifier)}); console.log(JSON.stringify(Object.keys(m).sort()));`;
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', importArg, '--input-type=module', '-e', code], {
      cwd: repoRoot,
      env: { ...process.env, CRMT_RESOLVE_LOG: log },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (c) => (c === 0 ? resolve(out) : reject(new Error(`node exited ${c}: ${err}`))));
  });
  const modules = (await readFile(log, 'utf8')).split('\n').filter(Boolean);
  return { modules, exports: JSON.parse(stdout) as string[] };
}

const HEAVY = ['node-pg-migrate', 'zod', 'yaml', 'libpg-query', 'commander'];
const loaded = (modules: string[], pkg: string) => modules.some((m) => m.includes(`/node_modules/${pkg}/`));

describe('the ./tenant subpath export', () => {
  it('resolves crm-tenancy/tenant to dist/tenant/with-tenant.js and loads none of the toolkit', async () => {
    const { modules, exports } = await load('crm-tenancy/tenant', 'tenant');
    expect(exports).toEqual(expect.arrayContaining(['withTenant', 'DEFAULT_TENANT_SETTING']));
    expect(modules).toContain(pathToFileURL(path.join(repoRoot, 'dist/tenant/with-tenant.js')).href);
    expect(HEAVY.filter((pkg) => loaded(modules, pkg))).toEqual([]);
    // Not even kysely, until a Kysely instance is passed; and nothing else of dist/ but the quoting
    // helper (the Citus form's SET LOCAL), which itself imports nothing.
    expect(loaded(modules, 'kysely')).toBe(false);
    const own = ['/dist/tenant/with-tenant.js', '/dist/db/quote.js'];
    expect(modules.filter((m) => m.includes('/dist/') && !own.some((o) => m.endsWith(o)))).toEqual([]);
    expect(await readFile(path.join(repoRoot, 'dist/db/quote.js'), 'utf8')).not.toMatch(/^\s*import\b|\bimport\(|\brequire\(/m);
  });

  it('the package root does load them (so the check above can see them)', async () => {
    const { modules, exports } = await load('crm-tenancy', 'root');
    expect(exports).toContain('withTenant');
    // (node-pg-migrate no longer: migrate runs the files itself.)
    expect(['zod', 'yaml'].filter((pkg) => loaded(modules, pkg))).toEqual(['zod', 'yaml']);
  });

  it('declares types for both entry points', async () => {
    const pkg = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8'));
    expect(pkg.exports['./tenant']).toEqual({ types: './dist/tenant/with-tenant.d.ts', default: './dist/tenant/with-tenant.js' });
    await expect(readFile(path.join(repoRoot, 'dist/tenant/with-tenant.d.ts'), 'utf8')).resolves.toContain('export declare function withTenant');
  });
});

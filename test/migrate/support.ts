// Shared helpers of the migrate tests: temp dirs, catalog snapshots, tenancy assertions.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type pg from 'pg';
import { afterAll } from 'vitest';
import { readCatalog } from '../../src/db/catalog.js';
import { ident } from '../../src/db/quote.js';
import { repoRoot } from '../support/cli.js';

const run = promisify(execFile);

/** A temp-dir factory whose directories are removed after the file's tests. */
export function useTempDirs(): () => Promise<string> {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });
  return async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'crmt-mig-'));
    dirs.push(dir);
    return dir;
  };
}

/** Everything a dry run must not change: the catalog of the schemas, which schemas exist, the migrations table. */
export async function snapshot(client: pg.ClientBase, schemas: string[], stateSchema: string): Promise<string> {
  const catalog = await readCatalog(client, [...schemas, stateSchema]);
  const rels = [...catalog.relations.values()].map((r) => ({ ...r, estimatedRows: undefined }));
  const nsp = await client.query(`SELECT nspname FROM pg_namespace ORDER BY 1`);
  const reg = await client.query<{ r: string | null }>(`SELECT to_regclass($1)::text AS r`, [`${ident(stateSchema)}.pgmigrations`]);
  const migrations = reg.rows[0].r ? (await client.query(`SELECT * FROM ${ident(stateSchema)}.pgmigrations ORDER BY id`)).rows : null;
  const locks = await client.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`);
  return JSON.stringify({ rels, nsp: nsp.rows, migrations, locks: locks.rows });
}

/** Runs squawk on files; returns its exit code and output. */
export async function squawk(files: string[]): Promise<{ code: number; out: string }> {
  try {
    const r = await run(path.join(repoRoot, 'node_modules/.bin/squawk'), ['--reporter', 'gcc', ...files], { env: { ...process.env, NO_COLOR: '1' } });
    return { code: 0, out: r.stdout + r.stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}


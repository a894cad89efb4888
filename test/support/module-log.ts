// Which modules a fresh Node process resolves: a module-resolution hook (hooks run off-thread, so it
// is a file) that appends every resolved URL to the file named by CRMT_RESOLVE_LOG.
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** Writes the hook into a new temporary directory; returns the `--import` argument that registers it. */
export async function moduleLogHook(prefix: string): Promise<{ dir: string; importArg: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  await writeFile(
    path.join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(process.env.CRMT_RESOLVE_LOG, result.url + '\\n');
  return result;
}
`,
  );
  await writeFile(
    path.join(dir, 'register.mjs'),
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(path.join(dir, 'hooks.mjs')).href)});\n`,
  );
  return { dir, importArg: pathToFileURL(path.join(dir, 'register.mjs')).href };
}

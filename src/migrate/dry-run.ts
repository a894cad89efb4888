// `migrate --dry-run`: the exact SQL migrate would send, built by the same functions that run it,
// without changing anything (no lock, no bookkeeping schema, no BEGIN).
import type { Queryable } from '../db/connection.js';
import { effectiveSql } from './apply-migration.js';
import type { MigrationFile } from './migration-file.js';
import type { MigrateOptions, MigrateResult } from './migrate-result.js';
import {
  appliedMigrationNames,
  createMigrationsTableSql,
  inlineParameters,
  markRunStatement,
  migrationsTableExists,
  pendingFiles,
} from './migrations-table.js';
import { chooseMigrations } from './select-migrations.js';

/** What `migrate` would run, as SQL, and which migrations; reads the migrations table only. */
export async function dryRun(db: Queryable, files: MigrationFile[], options: MigrateOptions): Promise<MigrateResult> {
  const { stateSchema } = options.manifest;
  const { direction } = options;
  const applied = await appliedMigrationNames(db, stateSchema);
  const chosen = chooseMigrations(files, applied, options);
  const lines: string[] = [`-- crm-tenancy migrate ${direction} --dry-run: nothing below has been run.`];
  const tableExists = applied.length > 0 || (await migrationsTableExists(db, stateSchema));
  if (!tableExists && chosen.length > 0) {
    lines.push(`-- First, the bookkeeping schema ${stateSchema} is created or upgraded, then node-pg-migrate's table:`, createMigrationsTableSql(stateSchema));
  }
  for (const file of chosen) {
    lines.push('', `-- ${file.name} (${direction}${file.meta ? `, phase ${file.meta.phase}` : ''})`);
    if (direction === 'up' && file.meta && file.meta.preconditions.length > 0) {
      lines.push(`-- migrate first checks: no NULL or unknown tenants, no duplicates, no cross-tenant references (it refuses otherwise).`);
    }
    if (direction === 'down' && file.meta && file.meta.dropsColumns.length > 0) {
      lines.push(`-- migrate first refuses if the dropped tenant columns hold values (with --force it archives them in ${stateSchema}.migrate_archive).`);
    }
    for (const unit of direction === 'up' ? file.up : file.down) lines.push(effectiveSql(unit, options));
    lines.push(inlineParameters(markRunStatement(stateSchema, file.name, direction)));
  }
  return {
    direction,
    dryRun: true,
    applied: chosen.map((f) => ({ name: f.name, phase: f.meta?.phase ?? null, statements: (direction === 'up' ? f.up : f.down).length, retries: 0, ms: 0 })),
    pending: pendingFiles(files, applied).map((f) => f.name),
    refused: [],
    sql: `${lines.join('\n')}\n`,
    archived: [],
    ok: true,
    exitCode: 0,
  };
}


// The migrate capability's public API: generate, migrate up/down, status.
export { generateMigrations } from './generate.js';
export { appliedMigrationNames, MIGRATIONS_TABLE } from './migrations-table.js';
export type { GenerateOptions, GenerateResult, GeneratedFile } from './generate.js';
export { runMigrate } from './runner.js';
export { tryMigrateLock, releaseMigrateLock } from './migrate-lock.js';
export { describeProblem } from './preflight.js';
export type { MigrateOptions, MigrateResult, AppliedMigration, ArchivedColumn } from './migrate-result.js';
export type { LockHolder } from './migrate-lock.js';
export { migrationStatus } from './status.js';
export type { MigrationStatus, MigrationStatusOptions, TableStatus, StepState, MigrationFileStatus } from './status.js';
export type { Refusal, RefusalProblem } from './preflight.js';
export { planTenancy, tableTenancyState } from './plan.js';
export type { PlanStep, TenancyPlan, PlanExtras } from './plan.js';
export { readPlanExtras } from './plan-extras.js';
export { readMigrationDir, parseMigrationText, splitStatements } from './migration-file.js';
export type { MigrationFile, MigrationMeta, MigrationPhase, Precondition } from './migration-file.js';
export { restoreArchivedTenants } from './restore.js';
export type { RestoreOptions, RestoredColumn } from './restore.js';

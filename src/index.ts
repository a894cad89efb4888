// The public API: each command as a function returning a typed result, its options and result types,
// the manifest, the error type and the renderers. Everything else is internal and may change.
// `crm-tenancy/tenant` exports withTenant alone, for applications (no zod, yaml or libpg-query).

// Errors, logging, progress
export { TenancyError, ExitCode, type TenancyErrorCode } from './errors.js';
export { silentLogger, memoryLogger, type Logger, type ProgressEvent, type ProgressListener } from './logger.js';

// The manifest
export {
  loadManifest,
  parseManifest,
  parseManifestText,
  manifestProblems,
  DEFAULT_MANIFEST_FILE,
  type Manifest,
  type ScopedTable,
  type UniqueKey,
  type PolymorphicReference,
} from './config/manifest.js';
export type { ConnectionOptions } from './db/connection.js';

// The application side
export { withTenant, DEFAULT_TENANT_SETTING, type WithTenantOptions, type TenantId } from './tenant/with-tenant.js';

// init, sample, demo
export { draftManifest, renderDraft, type DraftOptions, type ManifestDraft } from './init/draft-manifest.js';
export { loadSampleCrm, SAMPLE_MANIFEST, type LoadSampleOptions, type LoadSampleResult } from './sample/sample-crm.js';
export { loadSampleSaas, type LoadSaasOptions, type LoadSaasResult } from './sample/sample-saas.js';
export { runDemo, type DemoOptions, type DemoResult } from './demo/demo.js';

// audit and its reports
export { runAudit, type AuditOptions } from './audit/runner.js';
export { loadChecks } from './audit/check-definitions.js';
export { loadWaivers, loadBaseline } from './audit/waivers.js';
export { readPrevious, previousFromJson } from './audit/incremental/read-previous.js';
export type { AuditSnapshot, PreviousAudit, IncrementalReport, IncrementalTable } from './audit/incremental/types.js';
export type { AuditResult, AuditSummary, Finding, Severity, CheckDefinition, Waiver, DataProof, DataCheckStatus } from './audit/types.js';
export { renderAudit, AUDIT_FORMATS, type AuditFormat, type RenderOptions } from './report/render-audit.js';
export { renderBaseline } from './report/json.js';

// generate, migrate, status
export {
  generateMigrations,
  runMigrate,
  migrationStatus,
  restoreArchivedTenants,
  type GenerateOptions,
  type GenerateResult,
  type GeneratedFile,
  type MigrateOptions,
  type MigrateResult,
  type AppliedMigration,
  type ArchivedColumn,
  type MigrationStatus,
  type MigrationStatusOptions,
  type Refusal,
  type RestoreOptions,
  type RestoredColumn,
} from './migrate/index.js';
export { remedyText, remediesText, type Remedy } from './migrate/remedies.js';
export { rolloutStatus, type RolloutStatus, type RolloutStatusOptions, type TableRollout } from './status/rollout-status.js';
export { ROLLOUT_STEPS, type RolloutStep } from './status/rollout-step.js';

// backfill, dedupe, undo
export {
  runBackfill,
  type BackfillOptions,
  type BackfillResult,
  type BackfillTableResult,
  type CrossTenantReference,
  type SkippedTable,
  type UnplacedRow,
  type AssignedOrphan,
  type HealthPauses,
} from './backfill/backfill-runner.js';
export {
  runDedupe,
  type DedupeOptions,
  type DedupeResult,
  type DedupeConflict,
  type DedupeKey,
  type DuplicateGroup,
  type KeepRule,
} from './dedupe/dedupe-runner.js';
export { undoRun, listRuns, type UndoOptions, type UndoResult, type RunSummary, type UndoViolation, type StepBack } from './undo/undo-runner.js';
export {
  readServerHealth,
  waitWhileUnhealthy,
  DEFAULT_HEALTH_THRESHOLDS,
  type HealthThresholds,
  type ServerHealth,
} from './db/server-health.js';

// policies and verify
export {
  applyPolicies,
  policyDiff,
  policyStatus,
  type ApplyPoliciesOptions,
  type ApplyPoliciesResult,
  type PolicyDiffResult,
  type PolicyStatusResult,
} from './policies/apply.js';
export { writePolicyFiles, type WritePolicyFilesOptions, type PolicyFileResult } from './policies/policy-files.js';
export {
  verifyIsolation,
  PROBES,
  type VerifyOptions,
  type VerifyResult,
  type ProbeId,
  type ProbeResult,
  type ProbeStatus,
} from './verify/verify.js';
export { citusRouting, type RoutingReport, type RoutingOptions, type TableRouting, type RoutedQuery } from './citus/routing.js';

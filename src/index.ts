// The programmatic API: everything the CLI does is available as functions returning typed results.
export * from './errors.js';
export * from './logger.js';
export * from './config/manifest.js';
export * from './config/live-context.js';
export * from './db/quote.js';
export * from './shell-quote.js';
export * from './db/connection.js';
export * from './db/transaction.js';
export * from './db/catalog.js';
export * from './state/state-schema.js';
export * from './state/runs.js';
export * from './sample/sample-crm.js';
export * from './init/draft-manifest.js';
export * from './embedded/embedded-server.js';
export * from './demo/overview.js';
export * from './tenant/with-tenant.js';
export * from './demo/story.js';
export { runAudit, fingerprint, selectChecks, type AuditOptions } from './audit/runner.js';
export { loadChecks } from './audit/check-definitions.js';
export { loadWaivers, loadBaseline, applyWaivers } from './audit/waivers.js';
export * from './audit/types.js';
export { renderJson, renderBaseline } from './report/json.js';
export { renderSarif } from './report/sarif.js';
export { renderJunit } from './report/junit.js';
export { renderMarkdown } from './report/markdown.js';
export { coverageMatrix } from './report/coverage.js';
export * from './migrate/index.js';
export { runBackfill, type BackfillOptions, type BackfillResult, type BackfillTableResult } from './backfill/backfill-runner.js';
export { runDedupe, type DedupeOptions, type DedupeResult, type DedupeConflict, type DedupeKey } from './dedupe/dedupe-runner.js';
export { undoRun, listRuns, type UndoOptions, type UndoResult } from './undo/undo-runner.js';
export { applyPolicies, policyDiff, policyStatus } from './policies/apply.js';
export {
  readPartitionTrigger,
  renderPartitionTriggerSql,
  type PartitionTriggerOutcome,
  type PartitionTriggerState,
} from './policies/partition-trigger.js';
export { writePolicyFiles } from './policies/policy-files.js';
export { verifyIsolation, type VerifyOptions, type VerifyResult } from './verify/verify.js';
export { renderAudit, AUDIT_FORMATS } from './report/render-audit.js';

// The programmatic API: everything the CLI does is available as functions returning typed results.
export * from './errors.js';
export * from './logger.js';
export * from './config/manifest.js';
export * from './config/live-context.js';
export * from './db/quote.js';
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

#!/usr/bin/env node
// Entry point: runs the built CLI (dist/ is built by `npm install` through the `prepare` script).
import { main } from '../dist/cli/index.js';

// `crm-tenancy audit | head` closes stdout early: that is not an error.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

process.exitCode = await main(process.argv);

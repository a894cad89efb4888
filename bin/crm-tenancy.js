#!/usr/bin/env node
// Entry point: runs the built CLI (dist/ is built by `npm install` through the `prepare` script).
import { main } from '../dist/cli/index.js';

process.exitCode = await main(process.argv);

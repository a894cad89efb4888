// The list of commands. Each module declares its command (options, help) and imports its code only when it runs.
import type { Command } from 'commander';
import { register as registerInit } from './init.js';
import { register as registerAudit } from './audit.js';
import { register as registerGenerate } from './generate.js';
import { register as registerMigrate } from './migrate.js';
import { register as registerPolicies } from './policies.js';
import { register as registerVerify } from './verify.js';
import { register as registerBackfill } from './backfill.js';
import { register as registerDedupe } from './dedupe.js';
import { register as registerUndo } from './undo.js';
import { register as registerSample } from './sample.js';
import { register as registerDemo } from './demo.js';
import { register as registerStatus } from './status.js';

export function registerCommands(program: Command): void {
  for (const register of [
    registerInit,
    registerAudit,
    registerGenerate,
    registerMigrate,
    registerPolicies,
    registerBackfill,
    registerDedupe,
    registerUndo,
    registerVerify,
    registerStatus,
    registerSample,
    registerDemo,
  ]) {
    register(program);
  }
}

// The server-health options of the batched commands (dedupe, backfill): declared once, parsed once.
import type { Command } from 'commander';
import type { HealthThresholds } from '../db/server-health.js';
import { duration, wholeNumber } from './option-parsers.js';

export interface HealthCliOptions {
  /** false with --no-health-pauses. */
  healthPauses: boolean;
  maxReplicationLag: string;
  maxAutovacuum: string;
  maxRequestedCheckpoints?: string;
  healthPause: string;
}

/** Adds the health options to a command (defaults as in db/server-health.ts, written out: not loaded for --help). */
export function healthOptions(command: Command): Command {
  return command
    .option('--no-health-pauses', 'never pause for replication lag, autovacuum or checkpoint pressure')
    .option('--max-replication-lag <s>', 'pause while a physical standby lags more than this many seconds', '10')
    .option('--max-autovacuum <s>', 'pause while an autovacuum has run on the table longer than this (anti-wraparound: at once)', '60')
    .option('--max-requested-checkpoints <n>', 'pause when more checkpoints than this were requested since the last batch (off by default: CHECKPOINT and DROP DATABASE count too)')
    .option('--health-pause <ms>', 'how long one pause lasts before the signals are read again', '10000');
}

/** The thresholds for the core, or undefined with --no-health-pauses. */
export function healthThresholds(opts: HealthCliOptions): HealthThresholds | undefined {
  if (!opts.healthPauses) return undefined;
  return {
    maxReplicationLagSeconds: wholeNumber('--max-replication-lag', opts.maxReplicationLag, 0),
    maxAutovacuumSeconds: wholeNumber('--max-autovacuum', opts.maxAutovacuum, 0),
    maxRequestedCheckpoints:
      opts.maxRequestedCheckpoints === undefined ? Number.POSITIVE_INFINITY : wholeNumber('--max-requested-checkpoints', opts.maxRequestedCheckpoints, 0),
    pauseMs: duration('--health-pause', opts.healthPause, 1),
  };
}

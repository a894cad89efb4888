// What every command shares: global options, the manifest, connections, the output, its Ctrl-C scope.
import type { Command } from 'commander';
import type pg from 'pg';
import { loadManifest, DEFAULT_MANIFEST_FILE, type Manifest } from '../config/manifest.js';
import { assertWritable, connect, maskSecrets, type ConnectionTarget } from '../db/connection.js';
import type { Logger } from '../logger.js';
import type { InterruptScope } from './interrupt.js';
import { optionalDuration } from './option-parsers.js';
import { createOutput, type Output } from './output.js';

export interface GlobalOptions {
  databaseUrl?: string;
  config: string;
  verbose: boolean;
  /** --lock-wait, as typed (parsed when the command starts: a bad value is a usage error). */
  lockWait?: string;
}

export function globalOptions(command: Command): GlobalOptions {
  const opts = command.optsWithGlobals() as Partial<GlobalOptions>;
  return {
    databaseUrl: opts.databaseUrl,
    config: opts.config ?? DEFAULT_MANIFEST_FILE,
    verbose: Boolean(opts.verbose),
    lockWait: opts.lockWait,
  };
}

/** Used until runAction installs the command's real scope (and by tests that build a context alone). */
const NO_INTERRUPTS: InterruptScope = { describe() {}, onStopDisplay() {}, onCleanup() {}, record() {} };

export interface CommandContext {
  options: GlobalOptions;
  target: ConnectionTarget;
  output: Output;
  /** What Ctrl-C says and cleans up for this command. */
  interrupt: InterruptScope;
  loadManifest(): Promise<Manifest>;
  /** Opens a connection; every connection opened here is closed when the command ends. */
  connect(): Promise<pg.Client>;
  /**
   * Refuses a read-only server (hot standby, default_transaction_read_only) with exit 2 before a
   * command that writes or probes does anything: on `client`, or on a short connection of its own.
   */
  assertWritable(command: string, client?: pg.ClientBase): Promise<void>;
  close(): Promise<void>;
}

/**
 * Builds the context of one command run. `quiet` silences info messages (JSON output, CI).
 */
export function createContext(command: Command, quiet = false): CommandContext {
  const options = globalOptions(command);
  const target: ConnectionTarget = { databaseUrl: options.databaseUrl };
  const output = createOutput({
    verbose: options.verbose,
    quiet,
    mask: (text) => maskSecrets(text, target),
  });
  const clients: pg.Client[] = [];
  const ctx: CommandContext = {
    options,
    target,
    output,
    interrupt: NO_INTERRUPTS,
    loadManifest: () => loadManifest(options.config),
    async connect() {
      const client = await connect(target);
      clients.push(client);
      return client;
    },
    async assertWritable(name, client) {
      if (client) return assertWritable(client, name);
      const own = await connect({ ...target, applicationName: `crm-tenancy ${name}` });
      try {
        await assertWritable(own, name);
      } finally {
        await own.end().catch(() => {});
      }
    },
    async close() {
      await Promise.all(clients.splice(0).map((c) => c.end().catch(() => {})));
    },
  };
  return ctx;
}

/**
 * --lock-wait: the lock_timeout of every session the command opens (ctx.connect and the connections
 * core code opens itself, which read CRM_TENANCY_LOCK_TIMEOUT_MS). Steps with their own
 * --lock-timeout (batches, migration statements) keep it.
 */
export function applyLockWait(ctx: CommandContext, env: NodeJS.ProcessEnv = process.env): void {
  const ms = optionalDuration('--lock-wait', ctx.options.lockWait, 1);
  if (ms === undefined) return;
  ctx.target.lockTimeoutMs = ms;
  env.CRM_TENANCY_LOCK_TIMEOUT_MS = String(ms);
}

/**
 * The command's logger with `onInfo` seeing every info line before it is printed (or dropped in
 * quiet mode): how the Ctrl-C line learns a run id or the migration file in progress.
 */
export function tapInfo(logger: Logger, onInfo: (message: string) => void): Logger {
  return {
    ...logger,
    info: (message) => {
      onInfo(message);
      logger.info(message);
    },
  };
}

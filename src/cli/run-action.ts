// Runs one command: its context, the URL checks, --lock-wait, Ctrl-C, lock-wait warnings, errors → exit 2.
import type { Command } from 'commander';
import type pg from 'pg';
import { openConnectionPids } from '../db/connection.js';
import { describeBlockers, findLockBlockers } from '../db/lock-blockers.js';
import { withLockWaitDescriber } from '../db/transaction.js';
import { applyLockWait, createContext, type CommandContext } from './context.js';
import { assertPostgresUrl, commandLinePasswordWarning } from './database-url-checks.js';
import { setExitCode } from './exit-code.js';
import { watchInterrupts } from './interrupt.js';
import type { ActionOptions } from './lazy-action.js';

/** Before anything connects: PostgreSQL URLs only; a password on the command line is warned about. */
function checkTarget(ctx: CommandContext, env: NodeJS.ProcessEnv = process.env): void {
  const url = ctx.options.databaseUrl;
  if (url !== undefined) {
    assertPostgresUrl(url, '--database-url');
    const warning = commandLinePasswordWarning(url);
    if (warning) ctx.output.warn(warning);
  } else if (env.DATABASE_URL) {
    assertPostgresUrl(env.DATABASE_URL, 'DATABASE_URL');
  }
}

/** `policies apply`, `migrate`: the command's name as typed, for messages. */
function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * Names who holds the lock a retried step waits for, in its retry warning: the sessions holding
 * strong relation locks, read on a side connection opened at the first retry (never this process's
 * own sessions).
 */
function lockHolderDescriber(ctx: CommandContext): () => Promise<string | undefined> {
  let side: Promise<pg.Client> | undefined;
  return async () => {
    side ??= ctx.connect();
    const own = new Set(openConnectionPids());
    const blockers = (await findLockBlockers(await side)).filter((b) => !own.has(b.pid));
    return blockers.length > 0 ? describeBlockers(blockers) : undefined;
  };
}

function exitCodeOf(error: unknown): number {
  const code = (error as { exitCode?: unknown } | undefined)?.exitCode;
  return error instanceof Error && typeof code === 'number' ? code : 2;
}

/**
 * Runs a command's `run` with its context: maps errors to their exit code (2 unless the error says
 * otherwise), always closes the connections, and on Ctrl-C lets the interrupt handler end the
 * process (exit 130 with its one line). The returned number becomes the exit code.
 */
export async function runAction<A extends unknown[]>(
  run: (ctx: CommandContext, ...args: A) => Promise<number>,
  options: ActionOptions<A>,
  all: [...A, Command],
): Promise<void> {
  const command = all[all.length - 1] as Command;
  const args = all.slice(0, -1) as unknown as A;
  const quiet = options.quiet?.(args) ?? false;
  const ctx = createContext(command, quiet);
  const interrupts = watchInterrupts(ctx.output, commandPath(command));
  ctx.interrupt = interrupts.scope;
  let code: number;
  try {
    if (options.database !== false) checkTarget(ctx);
    applyLockWait(ctx);
    code = await withLockWaitDescriber(lockHolderDescriber(ctx), () => run(ctx, ...args));
  } catch (error) {
    code = exitCodeOf(error);
    if (!interrupts.interrupted) ctx.output.error(error);
  }
  if (interrupts.interrupted) {
    // The handler is closing everything and ends the process with its line; nothing else is printed.
    await interrupts.finished;
    await new Promise(() => {});
  }
  interrupts.dispose();
  await ctx.close();
  setExitCode(command, code);
}

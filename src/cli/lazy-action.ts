// Commands are declared up front (name, options, help) and their code is imported only when one runs:
// `--version` and `--help` load no command module and none of their libraries.
import type { Command } from 'commander';
import type { CommandContext } from './context.js';

export interface ActionOptions<A> {
  /** Quiet mode for these arguments (--json…): info messages suppressed. */
  quiet?: (args: A) => boolean;
  /** False for commands that never use --database-url / DATABASE_URL (the demo brings its own server). */
  database?: boolean;
}

/** What a command's module (src/cli/actions/<verb>.ts) exports: parse → call core → render → exit code. */
export interface CommandModule<A extends unknown[]> {
  run(ctx: CommandContext, ...args: A): Promise<number>;
}

/**
 * The commander action for a command whose code is in `load()`'s module: imported when the command
 * runs, then run by runAction (context, Ctrl-C, errors, exit code).
 *
 * @example .action(lazyAction(() => import('../actions/backfill.js'), { quiet: ([opts]) => Boolean(opts.json) }))
 */
export function lazyAction<A extends unknown[]>(
  load: () => Promise<CommandModule<A>>,
  options: ActionOptions<A> = {},
): (...all: unknown[]) => Promise<void> {
  return async (...all) => {
    const [{ runAction }, module] = await Promise.all([import('./run-action.js'), load()]);
    await runAction((ctx, ...args: A) => module.run(ctx, ...args), options, all as [...A, Command]);
  };
}

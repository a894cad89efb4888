// A logger for commands that warn once per item (dedupe's groups): the first few warnings, then a count.
import type { Logger } from '../logger.js';

export interface SummaryLogger extends Logger {
  /** Prints `… and N more warnings (--verbose shows them all)` when some were held back. */
  flush(): void;
}

/**
 * Core code that warns per item would print thousands of lines for thousands of items, each also in
 * the command's own listing. This passes the first `limit` warnings, counts the rest and says so at
 * the end; with `verbose` everything passes. Info lines per item become debug lines (--verbose).
 *
 * @example const logger = summaryLogger(ctx.output.logger, 10, ctx.output.verbose); …; logger.flush();
 */
export function summaryLogger(logger: Logger, limit: number, verbose: boolean): SummaryLogger {
  let warned = 0;
  return {
    info: (message) => logger.debug(message),
    debug: (message) => logger.debug(message),
    warn: (message) => {
      warned++;
      if (verbose || warned <= limit) logger.warn(message);
    },
    flush: () => {
      if (!verbose && warned > limit) logger.warn(`… and ${warned - limit} more warnings like these (--verbose shows them all)`);
    },
  };
}

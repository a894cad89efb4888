// The two table styles of the CLI's stdout: a list (one line per row) and a grid (every cell ruled).
import Table from 'cli-table3';
import type { Output } from './output.js';

/** Header cells in cyan, only when stdout takes colour; never coloured borders. */
function style(output: Output, compact: boolean) {
  return { head: output.stdoutColor.level > 0 ? ['cyan'] : [], border: [], compact };
}

/**
 * A list: a header line, then one line per row with no separator between rows (status, results).
 *
 * @example listTable(['table', 'status'], ctx.output).push(['deals', 'applied'])
 */
export function listTable(head: string[], output: Output): Table.Table {
  return new Table({ head, style: style(output, true) });
}

/** A grid: every row ruled off, for small summaries read cell by cell (the demo's before/after). */
export function gridTable(head: string[], output: Output): Table.Table {
  return new Table({ head, style: style(output, false) });
}

// The CLI: wires commander to the commands; returns the exit code instead of exiting.
// Light on purpose: a command's code and its libraries are imported only when it runs (lazy-action.ts).
import { Command, CommanderError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { packagePath } from '../paths.js';
import { registerCommands } from './commands/index.js';
import { getExitCode } from './exit-code.js';

const { version } = JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command('crm-tenancy')
    .description(
      'Move a PostgreSQL database to database-enforced multi-tenancy and keep it there:\n' +
        'audit, online migrations, row-level security, backfill, dedupe, live isolation proofs.',
    )
    .version(version, '-V, --version')
    .addOption(
      new Option('--database-url <url>', 'postgres://user@host:port/db (default: DATABASE_URL, else the PG* variables)'),
    )
    .option('-c, --config <file>', 'the tenancy manifest', 'tenancy.yaml')
    .option('--lock-wait <ms>', 'lock_timeout of every session: how long any query waits for a lock before the command names its holder and stops (default: CRM_TENANCY_LOCK_TIMEOUT_MS, else 5000)')
    .option('-v, --verbose', 'more detail (every listed item), and stack traces on errors', false)
    .showSuggestionAfterError(true)
    .addHelpText(
      'after',
      `
Exit codes: 0 success · 1 the command's gate failed (findings, a refused step) · 2 could not run ·
130 interrupted (Ctrl-C; the line printed says how to go on)

Examples:
  $ npx crm-tenancy demo                         the whole story on an embedded PostgreSQL
  $ crm-tenancy init --database-url postgres://dba@db/sales_crm > tenancy.yaml
  $ crm-tenancy audit --format sarif --output audit.sarif
  $ crm-tenancy migrate up --database-url "$DATABASE_URL"`,
    );
  // Set before the commands are registered: subcommands inherit these settings when created.
  program.exitOverride();
  program.configureHelp({ showGlobalOptions: true });
  program.configureOutput({
    outputError: () => {},
    // commander writes help here only when a command that needs a subcommand got none (bare
    // `crm-tenancy`, bare `crm-tenancy policies`): that is a request for help, so stdout, exit 0.
    writeErr: (text) => process.stdout.write(text),
  });
  registerCommands(program);
  return program;
}

/** Prints an error the way every command does (imported only when there is one to print). */
async function printError(error: unknown): Promise<void> {
  const [{ createOutput }, { TenancyError }] = await Promise.all([import('./output.js'), import('../errors.js')]);
  const output = createOutput();
  if (error instanceof CommanderError) {
    output.error(new TenancyError('usage', error.message.replace(/^error:\s*/, ''), { hint: 'see --help' }));
  } else {
    output.error(error);
  }
}

/** Runs the CLI with process.argv-style arguments and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return getExitCode(program);
  } catch (error) {
    if (error instanceof CommanderError && (error.exitCode === 0 || ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(error.code))) {
      return 0;
    }
    await printError(error);
    return 2;
  }
}

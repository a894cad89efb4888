// The `policies` command: not built yet (see its issue); registers nothing until it is.
import type { Command } from 'commander';

export function register(_program: Command): void {}

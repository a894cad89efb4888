// The exit code a command's action leaves on the program (commander actions return nothing).
import type { Command } from 'commander';

const EXIT = Symbol('crm-tenancy exit code');

function root(command: Command): Command {
  let top = command;
  while (top.parent) top = top.parent;
  return top;
}

export function setExitCode(command: Command, code: number): void {
  (root(command) as unknown as Record<symbol, number>)[EXIT] = code;
}

export function getExitCode(program: Command): number {
  return (program as unknown as Record<symbol, number | undefined>)[EXIT] ?? 0;
}

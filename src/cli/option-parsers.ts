// Option value parsers shared by every command: a bad value is a usage error (exit 2) naming the option.
import { TenancyError } from '../errors.js';
import { didYouMean } from './did-you-mean.js';

/**
 * A whole number ≥ `min`.
 *
 * @example wholeNumber('--jobs', '4', 1) // => 4;  wholeNumber('--jobs', '0', 1) // throws usage
 */
export function wholeNumber(name: string, value: string, min = 0): number {
  const n = /^\s*[+-]?\d+\s*$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new TenancyError('usage', `${name} must be a whole number ≥ ${min}, not ${value}`);
  }
  return n;
}

/** A whole number ≥ 1. */
export function positiveInt(name: string, value: string): number {
  return wholeNumber(name, value, 1);
}

/** Like wholeNumber, for options without a default (undefined stays undefined). */
export function optionalWholeNumber(name: string, value: string | undefined, min = 0): number | undefined {
  return value === undefined ? undefined : wholeNumber(name, value, min);
}

const UNIT_MS: Record<string, number> = { '': 1, ms: 1, s: 1000, min: 60_000, h: 3_600_000 };

/**
 * A duration in milliseconds: a whole number of ms, or a number with a unit (ms, s, min, h).
 *
 * @example duration('--lock-timeout', '500') // => 500;  duration('--lock-timeout', '1.5s') // => 1500
 */
export function duration(name: string, value: string, min = 0): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|h)?\s*$/.exec(value);
  const ms = m ? Number(m[1]) * UNIT_MS[m[2] ?? ''] : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms < min) {
    throw new TenancyError('usage', `${name} must be a duration of at least ${min} ms (500, 500ms, 2s, 5min), not ${value}`);
  }
  return ms;
}

/** Like duration, for options without a default. */
export function optionalDuration(name: string, value: string | undefined, min = 0): number | undefined {
  return value === undefined ? undefined : duration(name, value, min);
}

/**
 * One of a fixed set of values, with a suggestion for a typo.
 *
 * @example oneOf('--format', 'jsno', ['table', 'json']) // throws "--format must be one of table, json, not jsno (did you mean json?)"
 */
export function oneOf<T extends string>(name: string, value: string, choices: readonly T[]): T {
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw new TenancyError('usage', `${name} must be one of ${choices.join(', ')}, not ${value}${didYouMean(value, choices)}`);
}

/** A comma-separated list (blanks dropped); undefined when the option was not given. */
export function commaList(value: string | undefined): string[] | undefined {
  return value ? value.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
}

/**
 * Names the user typed that must come from a known set (check ids…): every unknown one is reported
 * at once, each with its closest known names.
 */
export function knownNames(name: string, values: readonly string[] | undefined, known: readonly string[], what: string): void {
  const unknown = (values ?? []).filter((v) => !known.includes(v));
  if (unknown.length === 0) return;
  throw new TenancyError('usage', `${name}: unknown ${what}${unknown.length > 1 ? 's' : ''}: ${unknown.map((u) => `${u}${didYouMean(u, known)}`).join(', ')}`, {
    hint: `${what}s: ${known.join(', ')}`,
  });
}

/**
 * Two different values separated by a comma (verify's tenants A,B).
 *
 * @example pair('--tenants', '1,2') // => ['1', '2']
 */
export function pair(name: string, value: string, what = 'values'): [string, string] {
  const parts = value.split(',').map((s) => s.trim());
  if (parts.length !== 2 || parts.some((p) => p === '') || parts[0] === parts[1]) {
    throw new TenancyError('usage', `${name} takes two different ${what}, A,B; not ${value}`);
  }
  return [parts[0], parts[1]];
}

// Quotes arguments of the commands messages suggest (`crm-tenancy backfill --table …`) for a POSIX shell.

const SAFE_ARG = /^[A-Za-z0-9_@%+=:,./-]+$/;
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/u;
const ANSI_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', "'": "\\'", '\\': '\\\\' };

/**
 * One shell word that the shell reads back as exactly `arg`: bare when it holds only safe characters,
 * else in single quotes (an embedded quote written `'\''`). A value holding a control character or
 * line separator (never a manifest name) is written in bash's `$'…'` form so the command stays on
 * one line.
 *
 * @example shellQuote('deals')          // => deals
 * @example shellQuote('semi;co"lon')    // => 'semi;co"lon'
 * @example shellQuote("it's")           // => 'it'\''s'
 */
export function shellQuote(arg: string): string {
  if (SAFE_ARG.test(arg)) return arg;
  if (!UNSAFE.test(arg)) return `'${arg.replace(/'/g, `'\\''`)}'`;
  let body = '';
  for (const ch of arg) {
    const code = ch.codePointAt(0)!;
    if (ANSI_ESCAPES[ch]) body += ANSI_ESCAPES[ch];
    else if (UNSAFE.test(ch)) body += code < 0x80 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
    else body += ch;
  }
  return `$'${body}'`;
}

/**
 * A command line with every argument quoted as needed.
 *
 * @example shellCommand('crm-tenancy', 'backfill', '--table', 'semi;colon') // => crm-tenancy backfill --table 'semi;colon'
 */
export function shellCommand(...args: string[]): string {
  return args.map(shellQuote).join(' ');
}

// SQL building blocks of generated migrations: DO blocks, transactions, concurrent index builds with their guards.
import { commentName, ident, literal, qualified, regclassText } from '../db/quote.js';

/** A DO block whose dollar tag does not occur in its body. */
export function doBlock(body: string, declare = ''): string {
  let tag = '$crm_tenancy$';
  for (let i = 1; body.includes(tag) || declare.includes(tag); i++) tag = `$crm_tenancy${i}$`;
  return `DO ${tag}\n${declare ? `DECLARE\n${declare}\n` : ''}BEGIN\n${body}\nEND\n${tag};`;
}

export function dropInvalidLeftover(schema: string, table: string, index: string): string {
  const reg = literal(regclassText(schema, index));
  return [
    `-- Drop an INVALID leftover of an interrupted build of ${commentName(index)} (never a valid index).`,
    `-- Lock: ACCESS EXCLUSIVE on ${commentName(schema, table)}, only when a leftover exists, for an instant.`,
    doBlock(
      `  IF EXISTS (SELECT FROM pg_catalog.pg_index WHERE indexrelid = to_regclass(${reg}) AND NOT indisvalid) THEN\n` +
        `    DROP INDEX ${qualified(schema, index)};\n  END IF;`,
    ),
  ].join('\n');
}

export function assertValid(schema: string, index: string): string {
  const reg = literal(regclassText(schema, index));
  return [
    `-- Check pg_index.indisvalid (IF NOT EXISTS would silently accept an INVALID index). No table lock.`,
    doBlock(
      `  IF NOT EXISTS (SELECT FROM pg_catalog.pg_index WHERE indexrelid = to_regclass(${reg}) AND indisvalid) THEN\n` +
        `    RAISE EXCEPTION 'index % is missing or INVALID after CREATE INDEX CONCURRENTLY; run migrate again to rebuild it', ${literal(commentName(schema, index))};\n  END IF;`,
    ),
  ].join('\n');
}

export function concurrentIndex(schema: string, table: string, name: string, columns: string[], unique: boolean, where?: string): string {
  return [
    dropInvalidLeftover(schema, table, name),
    `-- Lock: SHARE UPDATE EXCLUSIVE on ${commentName(schema, table)} for the whole build: reads and writes go on.`,
    `CREATE ${unique ? 'UNIQUE ' : ''}INDEX CONCURRENTLY IF NOT EXISTS ${ident(name)}\n  ON ${qualified(schema, table)} (${columns.map(ident).join(', ')})${where !== undefined ? `\n  WHERE (${where})` : ''};`,
    assertValid(schema, name),
  ].join('\n');
}

/** A BEGIN … COMMIT block: migrate runs it as one unit. */
export function transaction(lines: string[]): string {
  return ['BEGIN;', ...lines, 'COMMIT;'].join('\n');
}

/** The down steps of a generated trigger: drop it, then its function (each with the lock it takes). */
export function dropTriggerSteps(tableComment: string, table: string, trigger: string, fn: string): string[] {
  return [
    `-- Lock: ACCESS EXCLUSIVE on ${tableComment} for an instant (DROP TRIGGER).`,
    `DROP TRIGGER IF EXISTS ${trigger} ON ${table};`,
    `-- No table lock (the function alone).`,
    `DROP FUNCTION IF EXISTS ${fn}();`,
  ];
}

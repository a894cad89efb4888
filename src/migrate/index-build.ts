// CREATE INDEX CONCURRENTLY in a migration: spotting it, dropping the INVALID leftover of an
// interrupted build before a retry, and reporting the build's progress from a second connection.
import type pg from 'pg';
import { ident } from '../db/quote.js';
import type { Logger, ProgressListener } from '../logger.js';

const CIC_RE = /^CREATE\s+(UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(IF\s+NOT\s+EXISTS\s+)?("(?:[^"]|"")+"|\S+)/i;
const ON_RE = /\bON\s+(?:ONLY\s+)?((?:"(?:[^"]|"")+"|[^\s."(]+)\.)?("(?:[^"]|"")+"|[^\s."(]+)/i;

/** The index a statement builds concurrently, as written (quoted or not); null for any other statement. */
export function concurrentIndexName(sql: string): string | null {
  return CIC_RE.exec(sql.trim())?.[3] ?? null;
}

/** Drops the INVALID leftover of a failed CREATE INDEX CONCURRENTLY (never a valid index). */
export async function dropInvalidIndex(client: pg.ClientBase, statement: string, quotedName: string, logger: Logger): Promise<void> {
  const on = ON_RE.exec(statement);
  const name = quotedName.startsWith('"') ? quotedName : ident(quotedName);
  const schema = on?.[1] ? on[1].slice(0, -1) : null;
  const reg = schema ? `${schema}.${name}` : name;
  const r = await client.query<{ valid: boolean }>(`SELECT indisvalid AS valid FROM pg_catalog.pg_index WHERE indexrelid = to_regclass($1)`, [reg]);
  if (r.rows[0] && !r.rows[0].valid) {
    logger.warn(`dropping the INVALID index ${reg} left by the interrupted build, then building it again`);
    await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${reg}`);
  }
}

/** Polls pg_stat_progress_create_index on a second connection (opened on first use) while an index builds. */
export class IndexProgress {
  private client: pg.Client | null = null;
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private closed = false;

  /**
   * @param connect opens the second connection (to the same database)
   * @param pid the backend that builds the indexes
   */
  constructor(
    private readonly connect: () => Promise<pg.Client>,
    private readonly pid: number,
    private readonly listener?: ProgressListener,
  ) {}

  start(indexName: string): void {
    if (!this.listener) return;
    const task = `index ${indexName.replace(/^"|"$/g, '').replace(/""/g, '"')}`;
    const poll = async () => {
      if (this.busy) return;
      this.busy = true;
      try {
        if (!this.client) {
          const client = await this.connect();
          // close() may have run while connecting: do not leave this connection open.
          if (this.closed) {
            await client.end().catch(() => {});
            return;
          }
          this.client = client;
        }
        const r = await this.client.query(
          `SELECT phase, blocks_done, blocks_total, tuples_done, tuples_total FROM pg_catalog.pg_stat_progress_create_index WHERE pid = $1`,
          [this.pid],
        );
        const row = r.rows[0];
        if (row && this.timer) {
          const blocks = Number(row.blocks_total) > 0;
          this.listener!({
            kind: 'index-build',
            task,
            done: Number(blocks ? row.blocks_done : row.tuples_done),
            total: Number(blocks ? row.blocks_total : row.tuples_total) || undefined,
            detail: { phase: row.phase, unit: blocks ? 'blocks' : 'tuples' },
          });
        }
      } catch {
        /* progress is best effort */
      } finally {
        this.busy = false;
      }
    };
    this.timer = setInterval(() => void poll(), 250);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stop();
    await this.client?.end().catch(() => {});
    this.client = null;
  }
}

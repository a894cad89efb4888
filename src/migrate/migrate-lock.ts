// The advisory lock that keeps two `migrate` runs apart (state/locks.ts's key scheme, scope `migrate`).
import type pg from 'pg';
import { TenancyError } from '../errors.js';
import { releaseAdvisoryLock, tryAdvisoryLock, type LockHolder } from '../state/locks.js';

export type { LockHolder } from '../state/locks.js';

/** Tries the migrate advisory lock (session level); null when taken, else who holds it. */
export function tryMigrateLock(client: pg.ClientBase, stateSchema: string): Promise<LockHolder | null> {
  return tryAdvisoryLock(client, 'migrate', stateSchema);
}

export function releaseMigrateLock(client: pg.ClientBase, stateSchema: string): Promise<void> {
  return releaseAdvisoryLock(client, 'migrate', stateSchema);
}

/** The `locked` error (exit 2) a second migrate stops with, naming who holds the lock. */
export function lockedError(holder: LockHolder): TenancyError {
  const since = holder.since ? ` since ${holder.since.toISOString()}` : '';
  return new TenancyError(
    'locked',
    `another migrate is running: pid ${holder.pid} (application ${holder.applicationName || '?'}, user ${holder.user || '?'}${holder.clientAddr ? `, from ${holder.clientAddr}` : ''})${since}`,
    { hint: 'wait for it to finish, or stop it with pg_cancel_backend(pid) if it is stuck', exitCode: 2 },
  );
}

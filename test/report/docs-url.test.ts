// The docs base address from package.json's repository / homepage, and check page URLs.
import { describe, expect, it } from 'vitest';
import { docsBaseFromPackage, docsUrl } from '../../src/report/docs-url.js';

describe('docsBaseFromPackage', () => {
  it.each([
    [{ repository: { type: 'git', url: 'git+https://github.com/acme/crm-tenancy.git' } }, 'https://github.com/acme/crm-tenancy/blob/main'],
    [{ repository: 'github:acme/crm-tenancy' }, 'https://github.com/acme/crm-tenancy/blob/main'],
    [{ repository: 'acme/crm-tenancy' }, 'https://github.com/acme/crm-tenancy/blob/main'],
    [{ repository: 'gitlab:acme/crm-tenancy' }, 'https://gitlab.com/acme/crm-tenancy/-/blob/main'],
    [{ repository: 'git@github.com:acme/crm-tenancy.git' }, 'https://github.com/acme/crm-tenancy/blob/main'],
    [{ repository: 'git+ssh://git@github.com/acme/crm-tenancy.git' }, 'https://github.com/acme/crm-tenancy/blob/main'],
    [{ homepage: 'https://github.com/acme/crm-tenancy#readme' }, 'https://github.com/acme/crm-tenancy/blob/main'],
    [{ homepage: 'https://docs.example.com/crm-tenancy/' }, 'https://docs.example.com/crm-tenancy'],
    [{}, undefined],
  ])('%j → %s', (pkg, expected) => {
    expect(docsBaseFromPackage(pkg)).toBe(expected);
  });
});

describe('docsUrl', () => {
  it('joins with one slash; relative when there is no base', () => {
    expect(docsUrl('https://x.example/blob/main/', 'docs/checks/null-tenant.md')).toBe('https://x.example/blob/main/docs/checks/null-tenant.md');
    expect(docsUrl(undefined, 'docs/checks/null-tenant.md')).toBe('docs/checks/null-tenant.md');
  });
});

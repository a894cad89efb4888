// SARIF artifact URIs: repository-relative, forward slashes, percent-encoded (GitHub rejects absolute paths).
import { describe, expect, it } from 'vitest';
import { artifactUri } from '../../src/report/sarif.js';

describe('artifactUri', () => {
  it('makes an absolute manifest path relative to the working directory', () => {
    expect(artifactUri('/repo/config/tenancy.yaml', '/repo')).toBe('config/tenancy.yaml');
  });
  it('keeps a relative path, normalised', () => {
    expect(artifactUri('./db/../tenancy.yaml', '/repo')).toBe('tenancy.yaml');
  });
  it('percent-encodes spaces and unicode', () => {
    expect(artifactUri('/repo/my config/ténancy.yaml', '/repo')).toBe('my%20config/t%C3%A9nancy.yaml');
  });
});

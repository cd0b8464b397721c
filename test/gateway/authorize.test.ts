import assert from 'node:assert/strict';
import { authorize, missingScopes } from '../../gateway/pipeline/authorize.ts';
import { compileRoutes } from '../../gateway/routes/schema.ts';
import type { VerifiedClaims } from '../../gateway/tokens/claims.ts';

const [admin, open] = compileRoutes(
  {
    routes: [
      { id: 'admin', prefix: '/admin', upstream: 'http://127.0.0.1:1', auth: 'required', audience: 'whoami', scopes: ['admin', 'audit'] },
      { id: 'open', prefix: '/open', upstream: 'http://127.0.0.1:1', auth: 'required', audience: 'whoami' },
    ],
  },
  {},
  'test',
);

const withScopes = (...scopes: string[]): VerifiedClaims => ({
  sub: 'alice',
  sid: 's',
  jti: 'j',
  iat: 1,
  exp: 2,
  aud: ['whoami'],
  scopes,
  clientId: 'web',
});

describe('gateway: authorize', () => {
  it('requires every listed scope (all-of)', () => {
    assert.ok(admin && open);
    assert.equal(authorize(admin, withScopes('audit', 'admin', 'other')), undefined);
    assert.deepEqual(missingScopes(admin, withScopes('admin')), ['audit']);
    assert.equal(authorize(open, withScopes()), undefined);
  });

  it('answers 403 insufficient_scope with an RFC 6750 challenge naming the scopes', () => {
    assert.ok(admin);
    const rejection = authorize(admin, withScopes('notes:read'));
    assert.equal(rejection?.status, 403);
    assert.equal(rejection?.error, 'insufficient_scope');
    assert.equal(
      rejection?.headers?.['www-authenticate'],
      'Bearer realm="gateway", error="insufficient_scope", error_description="requires scope admin audit", scope="admin audit"',
    );
  });

  it('does not mistake a scope for a prefix or a substring of another', () => {
    assert.ok(admin);
    assert.ok(authorize(admin, withScopes('administrator', 'audit')));
    assert.ok(authorize(admin, withScopes('admin audit')));
  });
});

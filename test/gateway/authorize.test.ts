import { expect } from 'chai';
import { authorize, missingScopes } from '../../gateway/pipeline/authorize.ts';
import { compileRoutes, type Route } from '../../gateway/routes/schema.ts';
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
) as [Route, Route];

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
    expect(admin && open).to.be.ok;
    expect(authorize(admin, withScopes('audit', 'admin', 'other'))).to.equal(undefined);
    expect(missingScopes(admin, withScopes('admin'))).to.deep.equal(['audit']);
    expect(authorize(open, withScopes())).to.equal(undefined);
  });

  it('answers 403 insufficient_scope with an RFC 6750 challenge naming the scopes', () => {
    expect(admin).to.be.ok;
    const rejection = authorize(admin, withScopes('notes:read'));
    expect(rejection?.status).to.equal(403);
    expect(rejection?.error).to.equal('insufficient_scope');
    expect(rejection?.headers?.['www-authenticate']).to.equal(
      'Bearer realm="gateway", error="insufficient_scope", error_description="requires scope admin audit", scope="admin audit"',
    );
  });

  it('does not mistake a scope for a prefix or a substring of another', () => {
    expect(admin).to.be.ok;
    expect(authorize(admin, withScopes('administrator', 'audit'))).to.be.ok;
    expect(authorize(admin, withScopes('admin audit'))).to.be.ok;
  });
});

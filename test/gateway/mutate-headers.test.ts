import { expect } from 'chai';
import { IDENTITY_HEADERS } from '../../contract/identity-headers.ts';
import { mutateHeaders, requestIdFor, strippedHeaderSet, subjectType } from '../../gateway/pipeline/mutate-headers.ts';
import { compileRoutes, type Route } from '../../gateway/routes/schema.ts';
import type { VerifiedClaims } from '../../gateway/tokens/claims.ts';

const [route, noAuthForward, permissive] = compileRoutes(
  {
    routes: [
      { id: 'whoami', prefix: '/whoami', upstream: 'http://127.0.0.1:1', auth: 'required', audience: 'whoami' },
      { id: 'quiet', prefix: '/quiet', upstream: 'http://127.0.0.1:1', auth: 'none', forward_authorization: false },
      {
        id: 'legacy',
        prefix: '/legacy',
        upstream: 'http://127.0.0.1:1',
        auth: 'none',
        allow_underscore_headers: true,
        forward_override_headers: true,
        strip_headers: ['X_Tenant'],
      },
    ],
  },
  {},
  'test',
) as [Route, Route, Route];

const claims: VerifiedClaims = {
  sub: 'alice',
  sid: 'session-1',
  jti: 'token-1',
  iat: 1,
  exp: 2,
  aud: ['whoami'],
  scopes: ['notes:read', 'notes:write'],
  clientId: 'web',
};

const spoofed = {
  host: 'gateway.example:8080',
  authorization: 'Bearer abc.def.ghi',
  'x-auth-subject': 'root',
  'x-auth-scopes': 'admin',
  'x-auth-anything': 'x',
  'x-user-id': 'root',
  'x-forwarded-for': '10.0.0.1',
  'x-forwarded-host': 'evil.example',
  'x-forwarded-proto': 'https',
  forwarded: 'for=10.0.0.1',
  'x-real-ip': '10.0.0.1',
  'x-request-id': 'short',
  connection: 'keep-alive, x-hop',
  'x-hop': 'only for the next hop',
  'keep-alive': 'timeout=5',
  'proxy-authorization': 'Basic xyz',
  expect: '100-continue',
  accept: 'application/json',
  'content-type': 'text/plain',
};

const strippedHeaders = strippedHeaderSet();

describe('gateway: mutate headers', () => {
  it('drops every client-supplied identity and forwarding header and sets the verified identity', () => {
    expect(route).to.be.ok;
    const out = mutateHeaders(spoofed, {
      route,
      claims,
      requestId: 'req-12345678',
      remoteAddress: '127.0.0.9',
      encrypted: false,
      strippedHeaders,
    });
    expect(out['x-auth-subject']).to.equal('alice');
    expect(out['x-auth-scopes']).to.equal('notes:read notes:write');
    expect(out['x-auth-session']).to.equal('session-1');
    expect(out['x-auth-client']).to.equal('web');
    expect(out['x-auth-anything']).to.equal(undefined);
    expect(out['x-user-id']).to.equal(undefined);
    expect(out['x-forwarded-for']).to.equal('127.0.0.9');
    expect(out['x-forwarded-host']).to.equal('gateway.example:8080');
    expect(out['x-forwarded-proto']).to.equal('http');
    expect(out.forwarded).to.equal(undefined);
    expect(out['x-real-ip']).to.equal(undefined);
    expect(out['x-request-id']).to.equal('req-12345678');
  });

  it('drops hop-by-hop headers, including those named in Connection, and keeps end-to-end ones', () => {
    expect(route).to.be.ok;
    const out = mutateHeaders(spoofed, {
      route,
      claims,
      requestId: 'req-12345678',
      remoteAddress: undefined,
      encrypted: true,
      strippedHeaders,
    });
    for (const name of ['connection', 'x-hop', 'keep-alive', 'proxy-authorization', 'expect']) expect(out[name], name).to.equal(undefined);
    expect(out.accept).to.equal('application/json');
    expect(out['content-type']).to.equal('text/plain');
    expect(out['x-forwarded-proto']).to.equal('https');
    expect(out['x-forwarded-for']).to.equal(undefined);
  });

  it('writes the signed assertion it is given, and only for an authenticated caller', () => {
    const context = { route, requestId: 'req-12345678', remoteAddress: undefined, encrypted: false, strippedHeaders };
    const forged = { 'x-auth-assertion': 'forged', x_auth_assertion: 'forged' };
    expect(mutateHeaders(forged, { ...context, claims, assertion: 'signed.jws' })['x-auth-assertion']).to.equal('signed.jws');
    const anonymous = mutateHeaders(forged, { ...context, claims: undefined, assertion: 'signed.jws' });
    expect(anonymous).to.not.have.property('x-auth-assertion');
    expect(anonymous).to.not.have.property('x_auth_assertion');
    expect(mutateHeaders(forged, { ...context, claims })).to.not.have.property('x-auth-assertion');
  });

  it('forwards Authorization unless the route says not to', () => {
    expect(route && noAuthForward).to.be.ok;
    const context = { claims: undefined, requestId: 'req-12345678', remoteAddress: '127.0.0.1', encrypted: false, strippedHeaders };
    expect(mutateHeaders(spoofed, { ...context, route }).authorization).to.equal('Bearer abc.def.ghi');
    const quiet = mutateHeaders(spoofed, { ...context, route: noAuthForward });
    expect(quiet.authorization).to.equal(undefined);
    expect(quiet['x-auth-subject'], 'anonymous requests carry no identity, spoofed or not').to.equal(undefined);
  });

  it('leaves the WebSocket handshake headers to the ws client on upgrades', () => {
    expect(route).to.be.ok;
    const out = mutateHeaders(
      { ...spoofed, upgrade: 'websocket', 'sec-websocket-key': 'k', 'sec-websocket-version': '13', 'sec-websocket-protocol': 'chat' },
      { route, claims, requestId: 'req-12345678', remoteAddress: '127.0.0.1', encrypted: false, strippedHeaders, websocket: true },
    );
    for (const name of ['upgrade', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-protocol', 'host']) {
      expect(out[name], name).to.equal(undefined);
    }
    expect(out['x-auth-subject']).to.equal('alice');
  });

  it('keeps a well-formed incoming request id and replaces anything else', () => {
    expect(requestIdFor('abc-123_456.789:0')).to.equal('abc-123_456.789:0');
    for (const bad of [undefined, 'short', 'has space in it', 'x'.repeat(200), ['aaaaaaaaa', 'bbbbbbbbb']]) {
      const id = requestIdFor(bad);
      expect(id, String(bad)).to.match(/^[0-9a-f-]{36}$/);
    }
  });

  describe('header trust', () => {
    const base = { claims, requestId: 'req-12345678', remoteAddress: '127.0.0.1', encrypted: false, strippedHeaders };
    const identityLike = [
      'X_Auth_Subject',
      'X-Auth_Subject',
      'x_auth_scopes',
      'X-AUTH-SESSION',
      'x_auth_client',
      'X-Auth-Assertion',
      'x_auth_assertion',
      'X-Auth-Subject-Type',
      'x_auth_subject_type',
      'x-auth',
      'X_User',
      'x-user-email',
      'X_Forwarded_For',
      'x-forwarded_host',
      'Remote-User',
      'remote_user',
      'X-Remote-User',
      'X-User',
      'X-Authenticated-User',
      'x-authenticated-groups',
      'X-Client-IP',
      'True-Client-IP',
      'true_client_ip',
      'X-Real-IP',
      'x_real_ip',
      'Forwarded',
      'x_request_id',
    ];

    it('drops identity and forwarding headers by normalised name (lower-case, "_" read as "-"), on every route', () => {
      expect(route && permissive).to.be.ok;
      const incoming = Object.fromEntries(identityLike.map((name) => [name.toLowerCase(), 'forged']));
      for (const r of [route, permissive]) {
        const out = mutateHeaders(incoming, { ...base, route: r });
        const ownHeaders = new Set([...Object.values(IDENTITY_HEADERS), 'x-request-id', 'x-forwarded-for']);
        for (const name of identityLike.map((n) => n.toLowerCase()).filter((n) => !ownHeaders.has(n)))
          expect(out[name], `${r.id}: ${name}`).to.equal(undefined);
        for (const [name, value] of Object.entries(out)) expect(value, `${r.id}: ${name}`).to.not.equal('forged');
        expect(out['x-auth-subject']).to.equal('alice');
      }
    });

    it('drops every header with "_" in its name unless the route allows them', () => {
      expect(route && permissive).to.be.ok;
      const incoming = { accept_language: 'en', 'x-trace_id': 'abc', 'x-ok': '1' };
      expect(
        Object.keys(mutateHeaders(incoming, { ...base, route })).filter((name) => ['accept_language', 'x-trace_id', 'x-ok'].includes(name)),
      ).to.deep.equal(['x-ok']);
      const allowed = mutateHeaders(incoming, { ...base, route: permissive });
      expect(allowed.accept_language).to.equal('en');
      expect(allowed['x-trace_id']).to.equal('abc');
    });

    it('drops routing and method override headers unless the route forwards them', () => {
      expect(route && permissive).to.be.ok;
      const incoming = {
        'x-original-url': '/admin',
        'x-rewrite-url': '/admin',
        'x-http-method-override': 'DELETE',
        'x-http-method': 'DELETE',
        'x-method-override': 'DELETE',
        'x-original-method': 'DELETE',
        x_http_method_override: 'DELETE',
      };
      const out = mutateHeaders(incoming, { ...base, route });
      for (const name of Object.keys(incoming)) expect(out[name], name).to.equal(undefined);
      const forwarded = mutateHeaders(incoming, { ...base, route: permissive });
      for (const name of Object.keys(incoming)) expect(forwarded[name], name).to.equal(incoming[name as keyof typeof incoming]);
    });

    it("drops the operator's extra names (GATEWAY_STRIP_HEADERS) and a route's own strip_headers, normalised", () => {
      expect(route && permissive).to.be.ok;
      const incoming = { 'x-tenant': 't1', x_tenant: 't2', 'x-internal-role': 'admin', 'x-internal_role': 'admin', 'x-other': 'kept' };
      const withOperatorList = mutateHeaders(incoming, { ...base, route, strippedHeaders: strippedHeaderSet(['X_Internal_Role']) });
      expect(withOperatorList['x-internal-role']).to.equal(undefined);
      expect(withOperatorList['x-tenant']).to.equal('t1');
      expect(withOperatorList['x-other']).to.equal('kept');
      const onLegacy = mutateHeaders(incoming, { ...base, route: permissive });
      expect(onLegacy['x-tenant']).to.equal(undefined);
      expect(onLegacy.x_tenant).to.equal(undefined);
      expect(onLegacy['x-internal-role'], 'not on the operator list in this call').to.equal('admin');
    });

    it('never takes Host or the framing headers from the client, and a Connection header cannot remove or add identity', () => {
      expect(route).to.be.ok;
      const incoming = {
        host: 'gateway.example',
        'content-length': '10',
        'transfer-encoding': 'chunked',
        connection:
          'x-auth-subject, x-auth-scopes, x-auth-session, x-auth-client, x-auth-subject-type, x-forwarded-for, x-request-id, content-length, host',
        'x-request-id': 'client-request-1',
      };
      const out = mutateHeaders(incoming, { ...base, route });
      for (const name of ['host', 'content-length', 'transfer-encoding', 'connection']) expect(out[name], name).to.equal(undefined);
      expect(out['x-auth-subject']).to.equal('alice');
      expect(out['x-auth-subject-type']).to.equal('user');
      expect(out['x-auth-scopes']).to.equal('notes:read notes:write');
      expect(out['x-auth-session']).to.equal('session-1');
      expect(out['x-auth-client']).to.equal('web');
      expect(out['x-forwarded-for']).to.equal('127.0.0.1');
      expect(out['x-request-id']).to.equal('req-12345678');
      expect(out['x-forwarded-host']).to.equal('gateway.example');
    });

    it('tells upstreams whether the subject is a user or a machine client (sub equals client_id)', () => {
      expect(route).to.be.ok;
      const machine = { ...claims, sub: 'demo-service', clientId: 'demo-service', sid: 'jti-1' };
      expect(mutateHeaders({}, { ...base, route, claims: machine })['x-auth-subject-type']).to.equal('client');
      expect(mutateHeaders({}, { ...base, route })['x-auth-subject-type']).to.equal('user');
      expect(subjectType({ sub: 'web', clientId: undefined })).to.equal('user');
    });
  });
});

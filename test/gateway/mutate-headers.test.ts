import assert from 'node:assert/strict';
import { IDENTITY_HEADERS } from '../../contract/identity-headers.ts';
import { mutateHeaders, requestIdFor, strippedHeaderSet, subjectType } from '../../gateway/pipeline/mutate-headers.ts';
import { compileRoutes } from '../../gateway/routes/schema.ts';
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
);

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
    assert.ok(route);
    const out = mutateHeaders(spoofed, {
      route,
      claims,
      requestId: 'req-12345678',
      remoteAddress: '127.0.0.9',
      encrypted: false,
      strippedHeaders,
    });
    assert.equal(out['x-auth-subject'], 'alice');
    assert.equal(out['x-auth-scopes'], 'notes:read notes:write');
    assert.equal(out['x-auth-session'], 'session-1');
    assert.equal(out['x-auth-client'], 'web');
    assert.equal(out['x-auth-anything'], undefined);
    assert.equal(out['x-user-id'], undefined);
    assert.equal(out['x-forwarded-for'], '127.0.0.9');
    assert.equal(out['x-forwarded-host'], 'gateway.example:8080');
    assert.equal(out['x-forwarded-proto'], 'http');
    assert.equal(out.forwarded, undefined);
    assert.equal(out['x-real-ip'], undefined);
    assert.equal(out['x-request-id'], 'req-12345678');
  });

  it('drops hop-by-hop headers, including those named in Connection, and keeps end-to-end ones', () => {
    assert.ok(route);
    const out = mutateHeaders(spoofed, {
      route,
      claims,
      requestId: 'req-12345678',
      remoteAddress: undefined,
      encrypted: true,
      strippedHeaders,
    });
    for (const name of ['connection', 'x-hop', 'keep-alive', 'proxy-authorization', 'expect']) assert.equal(out[name], undefined, name);
    assert.equal(out.accept, 'application/json');
    assert.equal(out['content-type'], 'text/plain');
    assert.equal(out['x-forwarded-proto'], 'https');
    assert.equal(out['x-forwarded-for'], undefined);
  });

  it('forwards Authorization unless the route says not to', () => {
    assert.ok(route && noAuthForward);
    const context = { claims: undefined, requestId: 'req-12345678', remoteAddress: '127.0.0.1', encrypted: false, strippedHeaders };
    assert.equal(mutateHeaders(spoofed, { ...context, route }).authorization, 'Bearer abc.def.ghi');
    const quiet = mutateHeaders(spoofed, { ...context, route: noAuthForward });
    assert.equal(quiet.authorization, undefined);
    assert.equal(quiet['x-auth-subject'], undefined, 'anonymous requests carry no identity, spoofed or not');
  });

  it('leaves the WebSocket handshake headers to the ws client on upgrades', () => {
    assert.ok(route);
    const out = mutateHeaders(
      { ...spoofed, upgrade: 'websocket', 'sec-websocket-key': 'k', 'sec-websocket-version': '13', 'sec-websocket-protocol': 'chat' },
      { route, claims, requestId: 'req-12345678', remoteAddress: '127.0.0.1', encrypted: false, strippedHeaders, websocket: true },
    );
    for (const name of ['upgrade', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-protocol', 'host']) {
      assert.equal(out[name], undefined, name);
    }
    assert.equal(out['x-auth-subject'], 'alice');
  });

  it('keeps a well-formed incoming request id and replaces anything else', () => {
    assert.equal(requestIdFor('abc-123_456.789:0'), 'abc-123_456.789:0');
    for (const bad of [undefined, 'short', 'has space in it', 'x'.repeat(200), ['aaaaaaaaa', 'bbbbbbbbb']]) {
      const id = requestIdFor(bad);
      assert.match(id, /^[0-9a-f-]{36}$/, String(bad));
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
      assert.ok(route && permissive);
      const incoming = Object.fromEntries(identityLike.map((name) => [name.toLowerCase(), 'forged']));
      for (const r of [route, permissive]) {
        const out = mutateHeaders(incoming, { ...base, route: r });
        const ownHeaders = new Set([...Object.values(IDENTITY_HEADERS), 'x-request-id', 'x-forwarded-for']);
        for (const name of identityLike.map((n) => n.toLowerCase()).filter((n) => !ownHeaders.has(n)))
          assert.equal(out[name], undefined, `${r.id}: ${name}`);
        for (const [name, value] of Object.entries(out)) assert.notEqual(value, 'forged', `${r.id}: ${name}`);
        assert.equal(out['x-auth-subject'], 'alice');
      }
    });

    it('drops every header with "_" in its name unless the route allows them', () => {
      assert.ok(route && permissive);
      const incoming = { accept_language: 'en', 'x-trace_id': 'abc', 'x-ok': '1' };
      assert.deepEqual(
        Object.keys(mutateHeaders(incoming, { ...base, route })).filter((name) => ['accept_language', 'x-trace_id', 'x-ok'].includes(name)),
        ['x-ok'],
      );
      const allowed = mutateHeaders(incoming, { ...base, route: permissive });
      assert.equal(allowed.accept_language, 'en');
      assert.equal(allowed['x-trace_id'], 'abc');
    });

    it('drops routing and method override headers unless the route forwards them', () => {
      assert.ok(route && permissive);
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
      for (const name of Object.keys(incoming)) assert.equal(out[name], undefined, name);
      const forwarded = mutateHeaders(incoming, { ...base, route: permissive });
      for (const name of Object.keys(incoming)) assert.equal(forwarded[name], incoming[name as keyof typeof incoming], name);
    });

    it("drops the operator's extra names (GATEWAY_STRIP_HEADERS) and a route's own strip_headers, normalised", () => {
      assert.ok(route && permissive);
      const incoming = { 'x-tenant': 't1', x_tenant: 't2', 'x-internal-role': 'admin', 'x-internal_role': 'admin', 'x-other': 'kept' };
      const withOperatorList = mutateHeaders(incoming, { ...base, route, strippedHeaders: strippedHeaderSet(['X_Internal_Role']) });
      assert.equal(withOperatorList['x-internal-role'], undefined);
      assert.equal(withOperatorList['x-tenant'], 't1');
      assert.equal(withOperatorList['x-other'], 'kept');
      const onLegacy = mutateHeaders(incoming, { ...base, route: permissive });
      assert.equal(onLegacy['x-tenant'], undefined);
      assert.equal(onLegacy.x_tenant, undefined);
      assert.equal(onLegacy['x-internal-role'], 'admin', 'not on the operator list in this call');
    });

    it('never takes Host or the framing headers from the client, and a Connection header cannot remove or add identity', () => {
      assert.ok(route);
      const incoming = {
        host: 'gateway.example',
        'content-length': '10',
        'transfer-encoding': 'chunked',
        connection:
          'x-auth-subject, x-auth-scopes, x-auth-session, x-auth-client, x-auth-subject-type, x-forwarded-for, x-request-id, content-length, host',
        'x-request-id': 'client-request-1',
      };
      const out = mutateHeaders(incoming, { ...base, route });
      for (const name of ['host', 'content-length', 'transfer-encoding', 'connection']) assert.equal(out[name], undefined, name);
      assert.equal(out['x-auth-subject'], 'alice');
      assert.equal(out['x-auth-subject-type'], 'user');
      assert.equal(out['x-auth-scopes'], 'notes:read notes:write');
      assert.equal(out['x-auth-session'], 'session-1');
      assert.equal(out['x-auth-client'], 'web');
      assert.equal(out['x-forwarded-for'], '127.0.0.1');
      assert.equal(out['x-request-id'], 'req-12345678');
      assert.equal(out['x-forwarded-host'], 'gateway.example');
    });

    it('tells upstreams whether the subject is a user or a machine client (sub equals client_id)', () => {
      assert.ok(route);
      const machine = { ...claims, sub: 'demo-service', clientId: 'demo-service', sid: 'jti-1' };
      assert.equal(mutateHeaders({}, { ...base, route, claims: machine })['x-auth-subject-type'], 'client');
      assert.equal(mutateHeaders({}, { ...base, route })['x-auth-subject-type'], 'user');
      assert.equal(subjectType({ sub: 'web', clientId: undefined }), 'user');
    });
  });
});

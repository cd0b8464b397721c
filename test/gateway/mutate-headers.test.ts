import assert from 'node:assert/strict';
import { mutateHeaders, requestIdFor } from '../../gateway/pipeline/mutate-headers.ts';
import { compileRoutes } from '../../gateway/routes/schema.ts';
import type { AccessTokenClaims } from '../../gateway/tokens/claims.ts';

const [route, noAuthForward] = compileRoutes(
  {
    routes: [
      { id: 'whoami', prefix: '/whoami', upstream: 'http://127.0.0.1:1', auth: 'required', audience: 'whoami' },
      { id: 'quiet', prefix: '/quiet', upstream: 'http://127.0.0.1:1', auth: 'none', forward_authorization: false },
    ],
  },
  {},
  'test',
);

const claims: AccessTokenClaims = {
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

describe('gateway: mutate headers', () => {
  it('drops every client-supplied identity and forwarding header and sets the verified identity', () => {
    assert.ok(route);
    const out = mutateHeaders(spoofed, { route, claims, requestId: 'req-12345678', remoteAddress: '127.0.0.9', encrypted: false });
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
    const out = mutateHeaders(spoofed, { route, claims, requestId: 'req-12345678', remoteAddress: undefined, encrypted: true });
    for (const name of ['connection', 'x-hop', 'keep-alive', 'proxy-authorization', 'expect']) assert.equal(out[name], undefined, name);
    assert.equal(out.accept, 'application/json');
    assert.equal(out['content-type'], 'text/plain');
    assert.equal(out['x-forwarded-proto'], 'https');
    assert.equal(out['x-forwarded-for'], undefined);
  });

  it('forwards Authorization unless the route says not to', () => {
    assert.ok(route && noAuthForward);
    const context = { claims: undefined, requestId: 'req-12345678', remoteAddress: '127.0.0.1', encrypted: false };
    assert.equal(mutateHeaders(spoofed, { ...context, route }).authorization, 'Bearer abc.def.ghi');
    const quiet = mutateHeaders(spoofed, { ...context, route: noAuthForward });
    assert.equal(quiet.authorization, undefined);
    assert.equal(quiet['x-auth-subject'], undefined, 'anonymous requests carry no identity, spoofed or not');
  });

  it('leaves the WebSocket handshake headers to the ws client on upgrades', () => {
    assert.ok(route);
    const out = mutateHeaders(
      { ...spoofed, upgrade: 'websocket', 'sec-websocket-key': 'k', 'sec-websocket-version': '13', 'sec-websocket-protocol': 'chat' },
      { route, claims, requestId: 'req-12345678', remoteAddress: '127.0.0.1', encrypted: false, websocket: true },
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
});

import assert from 'node:assert/strict';
import {
  hostnameOf,
  matchRoute,
  parseRequestTarget,
  pathHasPrefix,
  upstreamPath,
  upstreamUrl,
} from '../../gateway/pipeline/match-route.ts';
import { compileRoutes, type RouteEntryInput } from '../../gateway/routes/schema.ts';

function routes(...entries: Partial<RouteEntryInput>[]) {
  return compileRoutes(
    { routes: entries.map((e, i) => ({ id: `r${i}`, upstream: 'http://127.0.0.1:1', auth: 'none', ...e })) },
    {},
    'test',
  );
}

function matchedId(table: ReturnType<typeof routes>, method: string, path: string, host?: string): string | undefined {
  const result = matchRoute(table, { method, path, host });
  return result.kind === 'matched' ? result.route.id : result.kind;
}

describe('gateway: match route', () => {
  it('normalizes the request target before matching', () => {
    assert.deepEqual(parseRequestTarget('/public/../admin?x=1'), { path: '/admin', search: '?x=1' });
    assert.deepEqual(parseRequestTarget('/public/%2e%2e/admin'), { path: '/admin', search: '' });
    assert.deepEqual(parseRequestTarget('//whoami//me'), { path: '/whoami/me', search: '' });
    assert.deepEqual(parseRequestTarget('/a\\..\\b'), { path: '/b', search: '' });
    assert.equal(parseRequestTarget('http://evil.example/admin'), undefined);
    assert.equal(parseRequestTarget('*'), undefined);
    assert.equal(parseRequestTarget(undefined), undefined);
  });

  it('matches prefixes by whole segments', () => {
    assert.ok(pathHasPrefix('/notes', '/notes'));
    assert.ok(pathHasPrefix('/notes/1', '/notes'));
    assert.ok(!pathHasPrefix('/notesy', '/notes'));
    assert.ok(pathHasPrefix('/notes/1', '/notes/'));
    assert.ok(!pathHasPrefix('/notes', '/notes/'));
    assert.ok(pathHasPrefix('/anything', '/'));
  });

  it('picks the longest prefix', () => {
    const table = routes({ prefix: '/' }, { prefix: '/api' }, { prefix: '/api/admin' });
    assert.equal(matchedId(table, 'GET', '/api/admin/users'), 'r2');
    assert.equal(matchedId(table, 'GET', '/api/adminx'), 'r1');
    assert.equal(matchedId(table, 'GET', '/other'), 'r0');
  });

  it('answers not_found for unmatched paths', () => {
    assert.equal(matchedId(routes({ prefix: '/whoami' }), 'GET', '/nope'), 'not_found');
  });

  it('selects by method on one prefix, and a missing method is a 405, never a shorter route', () => {
    const table = routes({ prefix: '/' }, { prefix: '/notes', methods: ['GET'] }, { prefix: '/notes', methods: ['POST', 'DELETE'] });
    assert.equal(matchedId(table, 'GET', '/notes'), 'r1');
    assert.equal(matchedId(table, 'HEAD', '/notes'), 'r1');
    assert.equal(matchedId(table, 'DELETE', '/notes/7'), 'r2');
    const put = matchRoute(table, { method: 'PUT', path: '/notes/7', host: undefined });
    assert.deepEqual(put, { kind: 'method_not_allowed', allow: ['DELETE', 'GET', 'HEAD', 'POST'] });
  });

  it('prefers a host-specific route and ignores the port and case of Host', () => {
    const table = routes({ prefix: '/api' }, { prefix: '/api', host: 'Admin.Example' });
    assert.equal(matchedId(table, 'GET', '/api', 'admin.example:8080'), 'r1');
    assert.equal(matchedId(table, 'GET', '/api', 'www.example'), 'r0');
    assert.equal(matchedId(table, 'GET', '/api', undefined), 'r0');
    assert.equal(hostnameOf('[::1]:8080'), '[::1]');
  });

  it('builds the upstream path and URL, stripping the prefix when asked', () => {
    const [plain, stripped] = routes(
      { prefix: '/whoami', upstream: 'http://127.0.0.1:1/base/' },
      { prefix: '/svc/', strip_prefix: true, upstream: 'https://up.example' },
    );
    assert.ok(plain && stripped);
    assert.equal(upstreamPath(plain, { path: '/whoami/me', search: '?a=1' }), '/whoami/me?a=1');
    assert.equal(upstreamPath(stripped, { path: '/svc/x/y', search: '' }), '/x/y');
    assert.equal(upstreamPath(stripped, { path: '/svc/', search: '?q' }), '/?q');
    assert.equal(upstreamUrl(plain, '/whoami/ws').href, 'http://127.0.0.1:1/base/whoami/ws');
    assert.equal(upstreamUrl(stripped, '/ws', true).href, 'wss://up.example/ws');
  });
});

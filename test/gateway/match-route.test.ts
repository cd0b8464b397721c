import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  hostnameOf,
  matchRoute,
  normalisedRequestTarget,
  parseRequestTarget,
  pathHasPrefix,
  plainRequestTarget,
  upstreamPath,
  upstreamUrl,
} from '../../gateway/pipeline/match-route.ts';
import { compileRoutes, type Route, type RouteEntryInput } from '../../gateway/routes/schema.ts';

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

  it('takes the URL-free path only for targets the URL parser leaves as they are', () => {
    assert.deepEqual(plainRequestTarget('/notes/1.json?x=1&y=a%20b'), { path: '/notes/1.json', search: '?x=1&y=a%20b' });
    assert.deepEqual(plainRequestTarget('/notes?'), { path: '/notes', search: '' });
    for (const needsParser of ['/a/../b', '/a/./b', '/a/..', '//a', '/a%2e%2e/b', '/a\\b', '/a#f', '/a b', '/é', "/a?x='"]) {
      assert.equal(plainRequestTarget(needsParser), undefined, needsParser);
    }
    const alphabet = [
      '/',
      '.',
      '..',
      '%',
      '%2e',
      '%2E',
      '?',
      '#',
      '\\',
      ' ',
      "'",
      '"',
      '<',
      '{',
      '|',
      '^',
      '`',
      'a',
      'Z',
      '0',
      '-',
      '_',
      '~',
      '!',
      '$',
      '&',
      '(',
      '*',
      '+',
      ',',
      ';',
      '=',
      ':',
      '@',
      'é',
      '\t',
    ];
    const target = fc.array(fc.constantFrom(...alphabet), { maxLength: 14 }).map((parts) => `/${parts.join('')}`);
    fc.assert(
      fc.property(target, (raw) => {
        const fast = plainRequestTarget(raw);
        if (fast) assert.deepEqual(fast, normalisedRequestTarget(raw), raw);
      }),
      { numRuns: 5000 },
    );
  });

  it('matches as a sort of the applicable routes by specificity would, for any route list', () => {
    const reference = (table: readonly Route[], method: string, path: string, host: string | undefined) => {
      const hostname = host?.split(':')[0];
      const applies = table.filter((r) => (r.host === undefined || r.host === hostname) && pathHasPrefix(path, r.prefix));
      const sorted = [...applies].sort(
        (a, b) =>
          b.prefix.length - a.prefix.length ||
          Number(b.host !== undefined) - Number(a.host !== undefined) ||
          Number(b.methods !== undefined) - Number(a.methods !== undefined),
      );
      const owners = sorted.filter((r) => r.prefix === sorted[0]?.prefix);
      const found = owners.find((r) => !r.methods || r.methods.has(method) || (method === 'HEAD' && r.methods.has('GET')));
      return found ? found.id : sorted.length ? 'method_not_allowed' : 'not_found';
    };
    const entry = fc.record({
      prefix: fc.constantFrom('/', '/a', '/a/', '/a/b', '/ab', '/b'),
      host: fc.option(fc.constantFrom('x.test', 'y.test'), { nil: undefined }),
      methods: fc.option(fc.subarray(['GET', 'POST', 'DELETE'] as const, { minLength: 1 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(
        fc.array(entry, { minLength: 1, maxLength: 7 }),
        fc.constantFrom('GET', 'HEAD', 'POST', 'DELETE', 'PUT'),
        fc.constantFrom('/', '/a', '/a/b', '/a/b/c', '/ab', '/b/x', '/c'),
        fc.constantFrom(undefined, 'x.test', 'y.test:8080'),
        (entries, method, path, host) => {
          let table: ReturnType<typeof routes>;
          try {
            table = routes(...entries);
          } catch {
            return fc.pre(false); // overlapping routes: refused at load, never matched
          }
          assert.equal(matchedId(table, method, path, host), reference(table, method, path, host));
        },
      ),
      { numRuns: 2000 },
    );
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

import { expect } from 'chai';
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
    expect(parseRequestTarget('/public/../admin?x=1')).to.deep.equal({ path: '/admin', search: '?x=1' });
    expect(parseRequestTarget('/public/%2e%2e/admin')).to.deep.equal({ path: '/admin', search: '' });
    expect(parseRequestTarget('//whoami//me')).to.deep.equal({ path: '/whoami/me', search: '' });
    expect(parseRequestTarget('/a\\..\\b')).to.deep.equal({ path: '/b', search: '' });
    expect(parseRequestTarget('http://evil.example/admin')).to.equal(undefined);
    expect(parseRequestTarget('*')).to.equal(undefined);
    expect(parseRequestTarget(undefined)).to.equal(undefined);
  });

  it('takes the URL-free path only for targets the URL parser leaves as they are', () => {
    expect(plainRequestTarget('/notes/1.json?x=1&y=a%20b')).to.deep.equal({ path: '/notes/1.json', search: '?x=1&y=a%20b' });
    expect(plainRequestTarget('/notes?')).to.deep.equal({ path: '/notes', search: '' });
    for (const needsParser of ['/a/../b', '/a/./b', '/a/..', '//a', '/a%2e%2e/b', '/a\\b', '/a#f', '/a b', '/é', "/a?x='"]) {
      expect(plainRequestTarget(needsParser), needsParser).to.equal(undefined);
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
        if (fast) expect(fast, raw).to.deep.equal(normalisedRequestTarget(raw));
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
          expect(matchedId(table, method, path, host)).to.equal(reference(table, method, path, host));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('matches prefixes by whole segments', () => {
    expect(pathHasPrefix('/notes', '/notes')).to.be.ok;
    expect(pathHasPrefix('/notes/1', '/notes')).to.be.ok;
    expect(pathHasPrefix('/notesy', '/notes')).to.not.be.ok;
    expect(pathHasPrefix('/notes/1', '/notes/')).to.be.ok;
    expect(pathHasPrefix('/notes', '/notes/')).to.not.be.ok;
    expect(pathHasPrefix('/anything', '/')).to.be.ok;
  });

  it('picks the longest prefix', () => {
    const table = routes({ prefix: '/' }, { prefix: '/api' }, { prefix: '/api/admin' });
    expect(matchedId(table, 'GET', '/api/admin/users')).to.equal('r2');
    expect(matchedId(table, 'GET', '/api/adminx')).to.equal('r1');
    expect(matchedId(table, 'GET', '/other')).to.equal('r0');
  });

  it('answers not_found for unmatched paths', () => {
    expect(matchedId(routes({ prefix: '/whoami' }), 'GET', '/nope')).to.equal('not_found');
  });

  it('selects by method on one prefix, and a missing method is a 405, never a shorter route', () => {
    const table = routes({ prefix: '/' }, { prefix: '/notes', methods: ['GET'] }, { prefix: '/notes', methods: ['POST', 'DELETE'] });
    expect(matchedId(table, 'GET', '/notes')).to.equal('r1');
    expect(matchedId(table, 'HEAD', '/notes')).to.equal('r1');
    expect(matchedId(table, 'DELETE', '/notes/7')).to.equal('r2');
    const put = matchRoute(table, { method: 'PUT', path: '/notes/7', host: undefined });
    expect(put).to.deep.equal({ kind: 'method_not_allowed', allow: ['DELETE', 'GET', 'HEAD', 'POST'] });
  });

  it('prefers a host-specific route and ignores the port and case of Host', () => {
    const table = routes({ prefix: '/api' }, { prefix: '/api', host: 'Admin.Example' });
    expect(matchedId(table, 'GET', '/api', 'admin.example:8080')).to.equal('r1');
    expect(matchedId(table, 'GET', '/api', 'www.example')).to.equal('r0');
    expect(matchedId(table, 'GET', '/api', undefined)).to.equal('r0');
    expect(hostnameOf('[::1]:8080')).to.equal('[::1]');
  });

  it('builds the upstream path and URL, stripping the prefix when asked', () => {
    const [plain, stripped] = routes(
      { prefix: '/whoami', upstream: 'http://127.0.0.1:1/base/' },
      { prefix: '/svc/', strip_prefix: true, upstream: 'https://up.example' },
    ) as [Route, Route];
    expect(plain && stripped).to.be.ok;
    expect(upstreamPath(plain, { path: '/whoami/me', search: '?a=1' })).to.equal('/whoami/me?a=1');
    expect(upstreamPath(stripped, { path: '/svc/x/y', search: '' })).to.equal('/x/y');
    expect(upstreamPath(stripped, { path: '/svc/', search: '?q' })).to.equal('/?q');
    expect(upstreamUrl(plain, '/whoami/ws').href).to.equal('http://127.0.0.1:1/base/whoami/ws');
    expect(upstreamUrl(stripped, '/ws', true).href).to.equal('wss://up.example/ws');
  });
});

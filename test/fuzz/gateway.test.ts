// Property-based fuzzing of the gateway: random methods, paths (dot segments,
// encodings, double slashes), headers (spoofed identity, hop-by-hop, upgrade),
// credentials and bodies. Every route has its own echo upstream, so the
// upstream that answers tells which route the gateway authorised; the oracle
// checks that this was allowed for the credential sent. Properties: never a
// 5xx, never a crash, gateway errors in the documented {error,
// error_description} shape, and identity headers that only ever come from a
// verified token.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import fc from 'fast-check';
import * as jose from 'jose';
import { WebSocketServer } from 'ws';
import type { Gateway } from '../../gateway/app.ts';
import { startTestGateway } from '../support/gateway.ts';
import { basic, registerAndLogin, request } from '../support/http.ts';
import { DEMO_SERVICE_CLIENT, GATEWAY_CLIENT, startTestTokenService, type TestTokenService } from '../support/token-service.ts';
import { check, FuzzStats, garbageBytes, headerValue, nastyString, runs, segment, sendRaw, statusesIn, type Exchange } from './support.ts';

interface Echo {
  route: string;
  url: string;
  server: http.Server;
}

interface Seen {
  route: string;
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
}

const ROUTE_IDS = ['req', 'scoped', 'admin', 'opt', 'pub', 'ws', 'hosted'] as const;
type RouteId = (typeof ROUTE_IDS)[number];
const CREDENTIALS = [
  'none',
  'user',
  'user-lowercase',
  'machine',
  'revoked',
  'refresh',
  'garbage',
  'basic',
  'huge',
  'two-tokens',
  'empty',
] as const;
type Credential = (typeof CREDENTIALS)[number];

/** Echo upstream of one route: reports what it received (and that it was reached at all). */
async function startEcho(route: string, seen: Seen[]): Promise<Echo> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push({ route, method: req.method ?? '', path: req.url ?? '', headers: req.headers });
      const body = JSON.stringify({ upstream: route });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket, req) => {
    seen.push({ route, method: 'UPGRADE', path: req.url ?? '', headers: req.headers });
    socket.terminate();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { route, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** One request to the gateway; upgrades that succeed are reported as 101 and dropped. */
function send(base: string, options: { method: string; path: string; headers: Record<string, string>; body?: string }): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const url = new URL(base);
    const req = http.request(
      { host: url.hostname, port: url.port, method: options.method, path: options.path, headers: options.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    req.on('upgrade', (res, socket) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ status: res.statusCode ?? 101, headers: res.headers, text: '' });
    });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer within 10 s: ${options.method} ${options.path.slice(0, 200)}`));
    }, 10_000);
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.end(options.body);
  });
}

const pathArb = fc
  .tuple(
    fc.constantFrom(
      '/req',
      '/scoped',
      '/admin',
      '/opt',
      '/pub',
      '/ws',
      '/healthz',
      '/readyz',
      '/nope',
      '',
      '/REQ',
      '/req.',
      '/reqx',
      '/pub/..',
      '/pub/%2e%2e',
      '/pub/%2E%2E/admin',
      '//admin',
      '/./admin',
    ),
    fc.array(
      fc.oneof(
        {
          weight: 3,
          arbitrary: fc.constantFrom(
            'x',
            'admin',
            '..',
            '.',
            '',
            '%2e%2e',
            '%2F',
            '%00',
            '%',
            '%zz',
            ';',
            'req',
            'a b'.replace(' ', '%20'),
          ),
        },
        { weight: 1, arbitrary: nastyString.map(segment) },
      ),
      { maxLength: 4 },
    ),
    fc.oneof(
      { weight: 3, arbitrary: fc.constant('') },
      { weight: 1, arbitrary: fc.constantFrom('?a=1', '?access_token=x', '?', '?%zz', '?a=1&a=2', '#frag') },
    ),
  )
  .map(([prefix, segments, query]) => `${prefix}${segments.length ? '/' : ''}${segments.join('/')}${query}` || '/');

const spoofedHeaders = fc.dictionary(
  fc.constantFrom(
    'x-auth-subject',
    'X-Auth-Scopes',
    'x-auth-session',
    'x-auth-client',
    'x-auth-subject-type',
    'X-Auth-Assertion',
    'X_Auth_Subject',
    'x-auth_scopes',
    'X_AUTH_SESSION',
    'remote-user',
    'X-Remote_User',
    'true-client-ip',
    'x-original-url',
    'X-HTTP-Method-Override',
    'x_http_method_override',
    'x-user-id',
    'x-forwarded-for',
    'x-forwarded-host',
    'forwarded',
    'x-real-ip',
    'connection',
    'keep-alive',
    'te',
    'proxy-authorization',
    'host',
    'content-type',
    'expect',
    'transfer-encoding',
  ),
  fc.oneof(
    fc.constantFrom(
      'admin',
      'keep-alive, x-auth-subject',
      'close',
      'trailers',
      'api.example',
      'api.example:8080',
      'chunked',
      '100-continue',
      'application/json',
    ),
    headerValue,
  ),
  { maxKeys: 4 },
);

const requestArb = fc.record({
  method: fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom('GET', 'POST') },
    { weight: 2, arbitrary: fc.constantFrom('HEAD', 'DELETE', 'PUT', 'PATCH', 'OPTIONS') },
    { weight: 1, arbitrary: fc.constantFrom('PROPFIND', 'M-SEARCH', 'PURGE') },
  ),
  path: pathArb,
  credential: fc.constantFrom(...CREDENTIALS),
  headers: spoofedHeaders,
  upgrade: fc.oneof(
    { weight: 6, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.constantFrom('valid', 'bad-key', 'bad-version', 'not-websocket') },
  ),
  body: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: nastyString }),
});

describe('fuzz: gateway (fast-check)', function () {
  this.timeout(120_000);
  let svc: TestTokenService;
  let gateway: Gateway;
  const echoes: Echo[] = [];
  const seen: Seen[] = [];
  const stats = new FuzzStats();
  let tokens: { user: string; machine: string; revoked: string; refresh: string; userId: string };

  before(async () => {
    svc = await startTestTokenService();
    for (const route of ROUTE_IDS) echoes.push(await startEcho(route, seen));
    const upstream = (route: RouteId) => (echoes.find((echo) => echo.route === route) as Echo).url;
    gateway = await startTestGateway(
      { issuer: svc.service.config.ISSUER, url: svc.url, client: GATEWAY_CLIENT },
      {
        jwksRefetchCooldownMs: 100,
        routes: {
          routes: [
            { id: 'req', prefix: '/req', upstream: upstream('req'), auth: 'required', audience: 'whoami' },
            {
              id: 'scoped',
              prefix: '/scoped',
              methods: ['GET', 'POST'],
              upstream: upstream('scoped'),
              auth: 'required',
              audience: 'notes',
              scopes: ['notes:read'],
            },
            { id: 'admin', prefix: '/admin', upstream: upstream('admin'), auth: 'required', audience: 'whoami', scopes: ['admin'] },
            { id: 'opt', prefix: '/opt', upstream: upstream('opt'), auth: 'optional', audience: 'whoami' },
            { id: 'pub', prefix: '/pub', upstream: upstream('pub'), auth: 'none', strip_prefix: true, forward_authorization: false },
            { id: 'ws', prefix: '/ws', upstream: upstream('ws'), auth: 'required', audience: 'whoami', websocket: true },
            { id: 'hosted', prefix: '/', host: 'api.example', upstream: upstream('hosted'), auth: 'none' },
          ],
        },
      },
    );

    const user = await registerAndLogin(svc.url, 'gwfuzz');
    const revoked = await registerAndLogin(svc.url, 'gwfuzz');
    await request(svc.url, 'POST', '/auth/logout', { token: revoked.tokens.access_token });
    await gateway.denylist.waitFor({ kind: 'session', key: String(jose.decodeJwt(revoked.tokens.access_token).sid) });
    const machine = await request<{ access_token: string }>(svc.url, 'POST', '/oauth/token', {
      form: { grant_type: 'client_credentials' },
      headers: { authorization: basic(DEMO_SERVICE_CLIENT.id, DEMO_SERVICE_CLIENT.secret) },
    });
    tokens = {
      user: user.tokens.access_token,
      machine: machine.body.access_token,
      revoked: revoked.tokens.access_token,
      refresh: user.tokens.refresh_token,
      userId: user.userId,
    };
  });
  after(async () => {
    if (process.env.SUITE_STATS) console.log(stats.report('gateway fuzzing'));
    await gateway?.close();
    for (const echo of echoes) {
      echo.server.closeAllConnections();
      echo.server.close();
    }
    await svc?.stop();
  });
  afterEach(async () => {
    expect((await request(gateway.url, 'GET', '/healthz')).status, 'gateway still alive').to.equal(200);
    expect((await request(gateway.url, 'GET', '/readyz')).status, 'gateway still ready').to.equal(200);
  });

  function authorization(credential: Credential): string | undefined {
    switch (credential) {
      case 'none':
        return undefined;
      case 'user':
        return `Bearer ${tokens.user}`;
      case 'user-lowercase':
        return `bearer ${tokens.user}`;
      case 'machine':
        return `Bearer ${tokens.machine}`;
      case 'revoked':
        return `Bearer ${tokens.revoked}`;
      case 'refresh':
        return `Bearer ${tokens.refresh}`;
      case 'garbage':
        return 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.';
      case 'basic':
        return basic('admin', 'admin');
      case 'huge':
        return `Bearer ${'A'.repeat(9000)}`;
      case 'two-tokens':
        return `Bearer ${tokens.user}, Bearer ${tokens.machine}`;
      case 'empty':
        return 'Bearer ';
    }
  }

  /** Which routes a credential may reach, and as whom (the oracle). */
  function allowed(route: string, credential: Credential, method: string): { ok: boolean; subject: string | null } {
    const user = credential === 'user' || credential === 'user-lowercase';
    const anonymous = credential === 'none' || credential === 'basic';
    switch (route) {
      case 'pub':
      case 'hosted':
        return { ok: true, subject: null };
      case 'req':
      case 'ws':
        return { ok: user, subject: tokens.userId };
      case 'scoped':
        return {
          ok: (user || credential === 'machine') && ['GET', 'HEAD', 'POST'].includes(method),
          subject: credential === 'machine' ? DEMO_SERVICE_CLIENT.id : tokens.userId,
        };
      case 'opt':
        return { ok: user || anonymous, subject: user ? tokens.userId : null };
      case 'admin':
        return { ok: false, subject: null };
      default:
        return { ok: false, subject: null };
    }
  }

  const GATEWAY_STATUSES = [400, 401, 403, 404, 405, 408, 413, 431, 503];
  /** Node answers an unknown Expect header itself (RFC 9110 §10.1.1), before the gateway sees a request. */
  const nodeLevel = (reply: Exchange) => reply.status === 417 && reply.text === '';

  /** What each request sent, by the X-Request-Id the gateway passes on: upstream hits are judged by it. */
  const sent = new Map<string, { credential: Credential; method: string; what: string; answered: boolean; status?: number }>();
  let late = 0;
  let counter = 0;

  const GATEWAY_IDENTITY = [
    'x-auth-subject',
    'x-auth-subject-type',
    'x-auth-scopes',
    'x-auth-session',
    'x-auth-client',
    'x-auth-assertion',
  ];

  function judgeHit(hit: Seen): void {
    const id = String(hit.headers['x-request-id']);
    const request = sent.get(id);
    expect(request, `upstream "${hit.route}" got a request the test never sent: ${hit.method} ${hit.path} ${id}`).to.exist;
    const { credential, method, what } = request as { credential: Credential; method: string; what: string };
    const rule = allowed(hit.route, credential, method);
    expect(rule.ok, `${what}: reached upstream "${hit.route}" (${hit.method} ${hit.path})`).to.equal(true);
    const subject = hit.headers['x-auth-subject'];
    expect(subject ?? null, `${what}: identity asserted to "${hit.route}"`).to.equal(rule.subject);
    for (const name of Object.keys(hit.headers)) {
      expect(name, `${what}: a header with "_" reached "${hit.route}"`).not.to.include('_');
      if (/^(x-auth|x-user)(-|$)/.test(name)) expect(GATEWAY_IDENTITY, `${what}: ${name} reached "${hit.route}"`).to.include(name);
      expect(
        ['remote-user', 'true-client-ip', 'x-original-url', 'x-http-method-override'],
        `${what}: ${name} reached "${hit.route}"`,
      ).not.to.include(name);
    }
    if (subject === undefined) {
      for (const name of GATEWAY_IDENTITY) expect(hit.headers[name], `${what}: ${name} without a subject`).to.equal(undefined);
    } else {
      expect(hit.headers['x-auth-subject-type'], `${what}: subject type`).to.equal(credential === 'machine' ? 'client' : 'user');
      // The gateway's signed assertion names the same subject (its signature: test/gateway/assertion-endpoint.test.ts).
      expect(jose.decodeJwt(String(hit.headers['x-auth-assertion'])).sub, `${what}: assertion subject`).to.equal(subject);
    }
    if (hit.route === 'pub') expect(hit.headers.authorization, `${what}: authorization forwarded on "pub"`).to.equal(undefined);
    expect(hit.headers['x-forwarded-for'], "x-forwarded-for is the peer, never the client's claim").to.equal('127.0.0.1');
  }

  it('plain requests and upgrades: never 5xx; upstreams reached only as the route allows; errors as {error, error_description}', async () => {
    let judged = 0;
    await check(
      'gateway requests',
      requestArb,
      async (spec) => {
        const headers: Record<string, string> = { ...spec.headers };
        const auth = authorization(spec.credential);
        if (auth !== undefined) headers.authorization = auth;
        if (spec.upgrade) {
          headers.connection = 'Upgrade';
          headers.upgrade = spec.upgrade === 'not-websocket' ? 'h2c' : 'websocket';
          headers['sec-websocket-key'] = spec.upgrade === 'bad-key' ? 'short' : 'dGhlIHNhbXBsZSBub25jZQ==';
          headers['sec-websocket-version'] = spec.upgrade === 'bad-version' ? '8' : '13';
        }
        if (headers['transfer-encoding'] !== undefined && headers['transfer-encoding'] !== 'chunked') delete headers['transfer-encoding'];
        if (headers['transfer-encoding'] === 'chunked' && spec.body === undefined) delete headers['transfer-encoding'];
        counter += 1;
        const requestId = `fuzz-${counter}-${Math.random().toString(36).slice(2)}`;
        headers['x-request-id'] = requestId;
        const what = `${spec.method} ${spec.path} ${spec.credential} ${JSON.stringify(spec.headers)} upgrade=${spec.upgrade}`;
        sent.set(requestId, { credential: spec.credential, method: spec.method, what, answered: false });
        const reply = await send(gateway.url, { method: spec.method, path: spec.path, headers, body: spec.body });
        Object.assign(sent.get(requestId) as object, { answered: true, status: reply.status });
        stats.record(spec.upgrade ? 'upgrades' : 'requests', reply.status);
        expect(reply.status, `${what} → ${reply.status} ${reply.text.slice(0, 200)}`).to.be.below(500);
        // Every upstream hit so far, whichever request it belongs to (some arrive after their answer).
        for (const hit of seen.slice(judged)) {
          const origin = sent.get(String(hit.headers['x-request-id']));
          // (a client that sent unframed bytes after its request got the gateway's 400 for them first)
          if (String(hit.headers['x-request-id']) !== requestId && origin?.answered) late += 1;
          judgeHit(hit);
        }
        judged = seen.length;
        const reached = seen.filter((hit) => hit.headers['x-request-id'] === requestId);
        if (reply.status === 101) {
          expect(spec.upgrade, what).to.equal('valid');
          return;
        }
        if (reached.length === 0 && reply.status >= 400 && !nodeLevel(reply)) {
          expect(GATEWAY_STATUSES, `${what}: status ${reply.status}`).to.include(reply.status);
          if (spec.method !== 'HEAD') {
            const body = JSON.parse(reply.text) as Record<string, unknown>;
            expect(Object.keys(body).sort(), what).to.deep.equal(['error', 'error_description']);
            expect(body.error).to.be.a('string');
            expect(body.error_description).to.be.a('string');
          }
          expect(reply.headers['cache-control'], what).to.equal('no-store');
          if (reply.status === 401) expect(String(reply.headers['www-authenticate']), what).to.match(/^Bearer /);
        }
      },
      runs(500),
    );
    for (const hit of seen.slice(judged)) judgeHit(hit);
    if (process.env.SUITE_STATS) console.log(`upstream hits: ${seen.length}, recorded after the client's answer: ${late}`);
    expect(
      seen.some((hit) => hit.route === 'req'),
      'some requests got through',
    ).to.equal(true);
  });

  it('raw bytes that are not quite HTTP: a 4xx or a closed connection, never 5xx, never a crash', async () => {
    await check(
      'gateway raw garbage',
      garbageBytes,
      async (bytes) => {
        const seenBefore = seen.filter((hit) => hit.route === 'admin').length;
        const raw = await sendRaw(gateway.port, bytes);
        const statuses = statusesIn(raw);
        for (const status of statuses) stats.record('raw bytes', status);
        if (statuses.length === 0) stats.record('raw bytes', 0);
        for (const status of statuses) {
          if (status >= 500) throw new Error(`answered ${status} to ${JSON.stringify(bytes.toString('latin1'))}: ${raw.slice(0, 300)}`);
        }
        expect(seen.filter((hit) => hit.route === 'admin').length, 'garbage reached the admin upstream').to.equal(seenBefore);
      },
      runs(100),
    );
  });
});

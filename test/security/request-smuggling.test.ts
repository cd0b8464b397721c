// One client request reaches an upstream as exactly one request, or none.
//
// Raw sockets send every method × every body framing (none, Content-Length,
// chunked, both) × a Connection header naming each framing and identity
// header, on an auth-required and an auth-none route of the docker-compose
// routes file (deploy/gateway-routes.json). Each body is a complete second
// request carrying forged identity headers: if the gateway's framing towards
// the upstream ever disagreed with what it read from the client, the upstream
// would parse that body as a request the gateway never authenticated.
//
// The upstream is a raw TCP server that records every byte and hands the
// connection to a strict HTTP parser (Node's) that counts requests; the raw
// bytes are re-parsed independently to check each forwarded request is framed
// explicitly. The same matrix then goes to the token service's /auth and
// /oauth routes, where a smuggled request could set X-Forwarded-For and
// sidestep per-address throttling.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { registerAndLogin } from '../support/http.ts';
import { startStack, type Stack } from '../support/stack.ts';

const ROUTES = fileURLToPath(new URL('../../deploy/gateway-routes.json', import.meta.url));
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
const FRAMINGS = ['none', 'length', 'chunked', 'both'] as const;
const CONNECTION_NAMES = [
  undefined,
  'keep-alive',
  'content-length',
  'transfer-encoding',
  'Content-Length, Transfer-Encoding',
  'close, content-length',
  'host',
  'x-auth-subject',
  'x-auth-subject-type',
  'x-auth-scopes',
  'x-auth-session',
  'x-auth-client',
  'x-forwarded-for',
  'x-request-id',
];
const SPOOFED_ADDRESS = '203.0.113.77';

interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * Counts requests with Node's parser, behind a TCP tap that keeps the raw
 * bytes of every connection (Node's HTTP server reads its sockets directly, so
 * the tap is a separate hop).
 */
class CountingUpstream {
  readonly received: Received[] = [];
  readonly rawConnections: Buffer[][] = [];
  readonly #http = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      this.received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
      res.end(req.method === 'HEAD' ? undefined : 'ok');
    });
  });
  readonly #tap = net.createServer((client) => {
    const chunks: Buffer[] = [];
    this.rawConnections.push(chunks);
    const server = net.connect((this.#http.address() as AddressInfo).port, '127.0.0.1');
    client.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      server.write(chunk);
    });
    server.pipe(client);
    client.on('end', () => server.end());
    client.on('error', () => server.destroy());
    server.on('error', () => client.destroy());
    client.on('close', () => server.destroy());
    server.on('close', () => client.destroy());
  });
  url = '';

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#http.listen(0, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => this.#tap.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#tap.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.#http.closeAllConnections();
    await new Promise<void>((resolve) => this.#tap.close(() => resolve()));
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }
}

/**
 * An independent, deliberately simple request splitter over raw bytes: header
 * block, then exactly Content-Length bytes, or chunks. Returns the framing of
 * each request, or throws on anything it cannot frame.
 */
function splitRequests(raw: Buffer): Array<{ requestLine: string; framing: 'none' | 'length' | 'chunked'; bodyLength: number }> {
  const requests: Array<{ requestLine: string; framing: 'none' | 'length' | 'chunked'; bodyLength: number }> = [];
  let offset = 0;
  while (offset < raw.length) {
    const end = raw.indexOf('\r\n\r\n', offset);
    if (end < 0)
      throw new Error(`incomplete header block at ${offset}: ${JSON.stringify(raw.subarray(offset, offset + 80).toString('latin1'))}`);
    const lines = raw.subarray(offset, end).toString('latin1').split('\r\n');
    const requestLine = lines[0] as string;
    const fields = lines
      .slice(1)
      .map((line) => [line.slice(0, line.indexOf(':')).trim().toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]);
    const lengths = fields.filter(([name]) => name === 'content-length');
    const codings = fields.filter(([name]) => name === 'transfer-encoding');
    if (lengths.length + codings.length > 1) throw new Error(`ambiguous framing in ${requestLine}: ${JSON.stringify(fields)}`);
    offset = end + 4;
    if (codings.length === 1) {
      if ((codings[0]?.[1] ?? '').toLowerCase() !== 'chunked') throw new Error(`transfer coding ${codings[0]?.[1]}`);
      let bodyLength = 0;
      for (;;) {
        const lineEnd = raw.indexOf('\r\n', offset);
        const size = Number.parseInt(raw.subarray(offset, lineEnd).toString('latin1'), 16);
        if (!Number.isFinite(size) || lineEnd < 0) throw new Error(`bad chunk size in ${requestLine}`);
        offset = lineEnd + 2 + size + 2;
        bodyLength += size;
        if (size === 0) break;
      }
      requests.push({ requestLine, framing: 'chunked', bodyLength });
    } else if (lengths.length === 1) {
      const bodyLength = Number(lengths[0]?.[1]);
      offset += bodyLength;
      requests.push({ requestLine, framing: bodyLength > 0 ? 'length' : 'none', bodyLength });
    } else {
      requests.push({ requestLine, framing: 'none', bodyLength: 0 });
    }
  }
  return requests;
}

/** A complete request hidden in the body: what a lax framing would deliver as a second request. */
function smuggledRequest(path: string, caseId: string, extra: Record<string, string> = {}): string {
  const fields = {
    host: 'upstream',
    'x-auth-subject': 'forged',
    'x-auth-scopes': 'admin',
    'x-forwarded-for': SPOOFED_ADDRESS,
    'x-request-id': `smuggled-${caseId}`,
    'content-type': 'application/json',
    ...extra,
  };
  const body = JSON.stringify({ username: 'victim-account', password: 'Wrong-password-1' });
  const head = Object.entries(fields)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  return `POST ${path} HTTP/1.1\r\n${head}content-length: ${body.length}\r\n\r\n${body}`;
}

function chunked(body: string): string {
  const half = Math.floor(body.length / 2);
  return `${half.toString(16)}\r\n${body.slice(0, half)}\r\n${(body.length - half).toString(16)}\r\n${body.slice(half)}\r\n0\r\n\r\n`;
}

interface Case {
  method: (typeof METHODS)[number];
  framing: (typeof FRAMINGS)[number];
  connection: string | undefined;
  path: string;
  token: string | undefined;
  id: string;
}

function rawRequest(c: Case, smuggledPath: string): { bytes: string; body: string } {
  const body = c.framing === 'none' ? '' : smuggledRequest(smuggledPath, c.id);
  const lines = [
    `${c.method} ${c.path} HTTP/1.1`,
    'Host: gateway.test',
    `X-Request-Id: case-${c.id}`,
    'X-Auth-Subject: forged-outer',
    'X_Auth_Scopes: admin',
    `X-Forwarded-For: ${SPOOFED_ADDRESS}`,
  ];
  if (c.token) lines.push(`Authorization: Bearer ${c.token}`);
  if (c.connection !== undefined) lines.push(`Connection: ${c.connection}`);
  if (c.framing === 'length' || c.framing === 'both') lines.push(`Content-Length: ${body.length}`);
  if (c.framing === 'chunked' || c.framing === 'both') lines.push('Transfer-Encoding: chunked');
  const payload = c.framing === 'chunked' || c.framing === 'both' ? chunked(body) : body;
  return { bytes: `${lines.join('\r\n')}\r\n\r\n${payload}`, body };
}

const SENTINEL = 'GET /healthz HTTP/1.1\r\nHost: gateway.test\r\nConnection: close\r\n\r\n';

/**
 * Sends the raw request, then a sentinel request on the same connection, and
 * reads until the gateway closes it. Returns the status lines of the answers
 * to the case itself: the sentinel's own 200 (present when the case left the
 * connection open) is checked and removed.
 */
async function exchange(port: number, bytes: string): Promise<string[]> {
  const received = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString('latin1')));
    socket.on('close', () => resolve(text));
    socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? resolve(text) : reject(error)));
    socket.write(bytes + SENTINEL);
  });
  // Bodies end without a line break, so the next status line need not start a line.
  const statuses = received.match(/HTTP\/1\.1 \d{3}/g) ?? [];
  if (received.includes('{"status":"ok"}')) {
    expect(statuses.at(-1), 'the sentinel request after the case').to.equal('HTTP/1.1 200');
    statuses.pop();
  }
  return statuses;
}

describe('security: request smuggling through the gateway (one request in, at most one out)', function () {
  this.timeout(180_000);
  let stack: Stack;
  let upstream: CountingUpstream;
  let token: string;
  let userId: string;

  before(async () => {
    upstream = await new CountingUpstream().start();
    stack = await startStack({
      // The deployment's own routes file, with the demo apps replaced by the counting upstream.
      gateway: { routes: ROUTES },
      routesEnv: { WHOAMI_URL: upstream.url, NOTES_URL: upstream.url },
      // As in docker-compose: the token service trusts the gateway's X-Forwarded-For.
      tokenEnv: { TRUST_PROXY: 'true', LOGIN_THROTTLE_IP_FREE: '1000' },
    });
    ({
      tokens: { access_token: token },
      userId,
    } = await registerAndLogin(stack.token.url, 'smuggle'));
  });
  after(async () => {
    await stack?.stop();
    await upstream?.close();
  });

  const cases = (path: string, auth: boolean): Case[] =>
    METHODS.flatMap((method) =>
      FRAMINGS.flatMap((framing) =>
        CONNECTION_NAMES.map((connection, i) => ({
          method,
          framing,
          connection,
          path,
          token: undefined as string | undefined,
          id: `${auth ? 'req' : 'none'}-${method}-${framing}-${i}`,
        })),
      ),
    );

  for (const [route, path, auth] of [
    ['auth-required (whoami)', '/whoami/me', true],
    ['auth-none (public)', '/public/x', false],
  ] as const) {
    it(`${route}: ${METHODS.length * FRAMINGS.length * CONNECTION_NAMES.length} raw requests, each forwarded once with the gateway's identity headers or refused`, async () => {
      let forwarded = 0;
      let refused = 0;
      const firstConnection = upstream.rawConnections.length;
      for (const c of cases(path, auth)) {
        if (auth) c.token = token;
        const before = upstream.received.length;
        const { bytes, body } = rawRequest(c, '/admin');
        const statuses = await exchange(stack.gateway.port, bytes);
        const what = `${c.method} framing=${c.framing} connection=${c.connection ?? '-'}`;
        expect(statuses.length, `${what}: exactly one response to the client`).to.equal(1);
        const arrived = upstream.received.slice(before);
        for (const request of arrived) {
          expect(request.headers['x-request-id'], `${what}: only the client's own request reaches the upstream`).to.equal(`case-${c.id}`);
        }
        expect(arrived.length, `${what}: requests that reached the upstream`).to.be.at.most(1);
        if (arrived.length === 0) {
          expect(statuses[0], `${what}: refused`).to.match(/^HTTP\/1\.1 4\d\d/);
          refused += 1;
          continue;
        }
        forwarded += 1;
        const [request] = arrived as [Received];
        expect(statuses[0], what).to.equal('HTTP/1.1 200');
        expect(request.method).to.equal(c.method);
        expect(request.body.toString('latin1'), `${what}: the body, byte for byte`).to.equal(body);
        expect(request.headers['x-auth-subject'], `${what}: the verified subject`).to.equal(auth ? userId : undefined);
        expect(request.headers['x-auth-subject-type']).to.equal(auth ? 'user' : undefined);
        expect(request.headers['x-auth-scopes'], what).to.equal(auth ? 'openid profile notes:read notes:write' : undefined);
        expect(request.headers['x-forwarded-for'], `${what}: the peer, never the client's claim`).to.equal('127.0.0.1');
        expect(
          Object.keys(request.headers).filter((name) => name.includes('_')),
          what,
        ).to.deep.equal([]);
      }
      // Every framing except "both" (which Node refuses) is forwarded.
      expect(forwarded).to.equal(METHODS.length * 3 * CONNECTION_NAMES.length);
      expect(refused).to.equal(METHODS.length * CONNECTION_NAMES.length);
      // Read independently from the raw bytes: one explicitly framed request per forwarded case.
      const framed = upstream.rawConnections.slice(firstConnection).flatMap((chunks) => splitRequests(Buffer.concat(chunks)));
      expect(framed.length).to.equal(forwarded);
      for (const request of framed) {
        if (request.bodyLength > 0) expect(['length', 'chunked'], request.requestLine).to.include(request.framing);
      }
      expect(
        framed.filter((r) => r.requestLine.startsWith('POST /admin')),
        'no smuggled request line',
      ).to.deep.equal([]);
    });
  }

  it("the token service's /auth and /oauth routes: no smuggled login reaches it, so X-Forwarded-For cannot dodge throttling", async () => {
    const { metrics, knex } = stack.token.service;
    const countRequests = async () => (await metrics.httpRequests.get()).values.reduce((sum, v) => sum + v.value, 0);
    const throttledSpoofed = () => knex('login_throttles').where('key', 'like', `%${SPOOFED_ADDRESS}%`).first();
    for (const [path, smuggledPath] of [
      ['/auth/login', '/auth/login'],
      ['/oauth/token', '/auth/login'],
      ['/auth/register', '/auth/login'],
    ] as const) {
      for (const c of cases(path, false)) {
        const before = await countRequests();
        const statuses = await exchange(stack.gateway.port, rawRequest(c, smuggledPath).bytes);
        const what = `${path} ${c.method} framing=${c.framing} connection=${c.connection ?? '-'}`;
        expect(statuses.length, `${what}: one response`).to.equal(1);
        const reached = (await countRequests()) - before;
        expect(reached, `${what}: requests the token service handled`).to.equal(c.framing === 'both' ? 0 : 1);
      }
    }
    expect(await throttledSpoofed(), 'a throttle counter for the spoofed address').to.equal(undefined);
    const spoofedAudit = await knex('audit_events').where({ ip: SPOOFED_ADDRESS }).first();
    expect(spoofedAudit, 'an audit event from the spoofed address').to.equal(undefined);
  });
});

// Demo upstream: answers every request with the identity the gateway asserted
// and the forwarding headers it set, and echoes WebSocket messages. Given the
// gateway's JWKS (`assertion`), it takes the identity only from a valid
// X-Auth-Assertion and refuses (401) a request without one, except under
// /public (the gateway's auth-none route). Without it, it trusts the X-Auth-*
// headers, which is safe only while nothing but the gateway can reach it.
// It never sees or checks an access token itself.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { assertionVerifier, type AssertedIdentity, type AssertionCheck } from '../../common/gateway-assertion.ts';
import type { Logger } from '../../common/logger.ts';
import { IDENTITY_HEADERS } from '../../contract/identity-headers.ts';

export interface WhoamiOptions {
  port?: number;
  host?: string;
  logger?: Logger;
  /** Verify the gateway's X-Auth-Assertion (audience default: the routes `whoami` and `admin`). */
  assertion?: Omit<AssertionCheck, 'audience'> & Partial<Pick<AssertionCheck, 'audience'>>;
}

/** The routes of gateway/routes.json that lead here with a caller. */
export const WHOAMI_ROUTES = ['whoami', 'admin'];
/** Answered without an identity (the gateway's auth-none route). */
const ANONYMOUS_PREFIX = /^\/public(\/|\?|$)/;

export interface RunningApp {
  url: string;
  port: number;
  server: http.Server;
  /** X-Auth-Session of each open WebSocket (tests watch the gateway close them). */
  openSessions(): string[];
  close(): Promise<void>;
}

const REPORTED = /^(x-auth-|x-forwarded-|x-request-id$|x-user-)/;

/**
 * What whoami reports about a request: the caller (from `asserted`, the verified assertion,
 * when given; else from the X-Auth-* headers), the headers the gateway set, and whether a
 * token and an assertion came along.
 */
export function describeRequest(req: http.IncomingMessage, asserted?: AssertedIdentity): Record<string, unknown> {
  const header = (name: string) => (typeof req.headers[name] === 'string' ? (req.headers[name] as string) : null);
  const received = Object.fromEntries(
    Object.entries(req.headers).filter(([name]) => REPORTED.test(name) && name !== IDENTITY_HEADERS.assertion),
  );
  const identity = asserted
    ? { subject: asserted.sub, scopes: asserted.scopes, session: asserted.sid, client: asserted.clientId ?? null }
    : {
        subject: header(IDENTITY_HEADERS.subject),
        scopes: header(IDENTITY_HEADERS.scopes)?.split(' ').filter(Boolean) ?? [],
        session: header(IDENTITY_HEADERS.session),
        client: header(IDENTITY_HEADERS.client),
      };
  return {
    method: req.method,
    path: req.url,
    ...identity,
    request_id: header('x-request-id'),
    // Reported as flags: echoing a token or an assertion back would only put it in more places.
    authorization: req.headers.authorization ? 'present' : 'absent',
    // The names only: what the app was sent, never the values (a session cookie must never arrive here).
    cookies: (header('cookie') ?? '')
      .split(';')
      .map((pair) => pair.split('=')[0]?.trim() ?? '')
      .filter(Boolean),
    assertion: asserted ? 'verified' : req.headers[IDENTITY_HEADERS.assertion] ? 'present' : 'absent',
    headers: received,
  };
}

type Identify = (req: http.IncomingMessage) => Promise<{ ok: true; asserted?: AssertedIdentity } | { ok: false }>;

/** Header mode: everyone is whoever the headers say. Assertion mode: a valid assertion, or anonymous under /public. */
function identifier(check: WhoamiOptions['assertion']): Identify {
  if (!check) return () => Promise.resolve({ ok: true });
  const verify = assertionVerifier({ audience: WHOAMI_ROUTES, ...check });
  return async (req) => {
    const header = req.headers[IDENTITY_HEADERS.assertion];
    const asserted = await verify(typeof header === 'string' ? header : undefined);
    if (asserted) return { ok: true, asserted };
    return ANONYMOUS_PREFIX.test(req.url ?? '') && header === undefined ? { ok: true } : { ok: false };
  };
}

const UNAUTHENTICATED = JSON.stringify({ error: 'unauthenticated', error_description: 'no valid X-Auth-Assertion from the gateway' });

export async function startWhoami(options: WhoamiOptions = {}): Promise<RunningApp> {
  const identify = identifier(options.assertion);
  const server = http.createServer((req, res) => {
    void identify(req).then((identity) => {
      const ok = identity.ok;
      const body = ok ? JSON.stringify(describeRequest(req, identity.asserted)) : UNAUTHENTICATED;
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    });
  });
  const asserted = new WeakMap<http.IncomingMessage, AssertedIdentity>();
  const wss = new WebSocketServer({
    server,
    perMessageDeflate: false,
    verifyClient: ({ req }, accept) =>
      void identify(req).then((identity) => {
        if (identity.ok && identity.asserted) asserted.set(req, identity.asserted);
        accept(identity.ok, 401);
      }),
  });
  const sessions = new Map<WebSocket, string>();
  wss.on('connection', (socket, req) => {
    const identity = asserted.get(req);
    sessions.set(socket, identity ? identity.sid : String(req.headers[IDENTITY_HEADERS.session] ?? ''));
    socket.on('close', () => sessions.delete(socket));
    socket.send(JSON.stringify({ type: 'hello', ...describeRequest(req, identity) }));
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
    socket.on('error', () => socket.terminate());
  });
  // ws repeats the server's errors on wss: a failed listen (a port in use) is the caller's to report, once.
  const repeated = (): void => undefined;
  wss.on('error', repeated);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      wss.off('error', repeated);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  options.logger?.info({ port }, 'whoami listening');
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    openSessions: () => [...sessions.values()],
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

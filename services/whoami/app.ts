// Demo upstream: answers every request with the identity the gateway asserted
// (X-Auth-*) and the forwarding headers it set, and echoes WebSocket messages.
// It trusts those headers only because nothing but the gateway can reach it
// (it listens on loopback); it never sees or checks a token itself.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../../common/logger.ts';
import { IDENTITY_HEADERS } from '../../contract/identity-headers.ts';

export interface WhoamiOptions {
  port?: number;
  host?: string;
  logger?: Logger;
}

export interface RunningApp {
  url: string;
  port: number;
  server: http.Server;
  /** X-Auth-Session of each open WebSocket (tests watch the gateway close them). */
  openSessions(): string[];
  close(): Promise<void>;
}

const REPORTED = /^(x-auth-|x-forwarded-|x-request-id$|x-user-)/;

/** What whoami reports about a request: the identity headers, and whether a token was forwarded. */
export function describeRequest(req: http.IncomingMessage): Record<string, unknown> {
  const header = (name: string) => (typeof req.headers[name] === 'string' ? (req.headers[name] as string) : null);
  const received = Object.fromEntries(Object.entries(req.headers).filter(([name]) => REPORTED.test(name)));
  return {
    method: req.method,
    path: req.url,
    subject: header(IDENTITY_HEADERS.subject),
    scopes: header(IDENTITY_HEADERS.scopes)?.split(' ').filter(Boolean) ?? [],
    session: header(IDENTITY_HEADERS.session),
    client: header(IDENTITY_HEADERS.client),
    request_id: header('x-request-id'),
    // Reported as a flag: echoing the token back would only put it in more places.
    authorization: req.headers.authorization ? 'present' : 'absent',
    // The names only: what the app was sent, never the values (a session cookie must never arrive here).
    cookies: (header('cookie') ?? '')
      .split(';')
      .map((pair) => pair.split('=')[0]?.trim() ?? '')
      .filter(Boolean),
    headers: received,
  };
}

export async function startWhoami(options: WhoamiOptions = {}): Promise<RunningApp> {
  const server = http.createServer((req, res) => {
    const body = JSON.stringify(describeRequest(req));
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  const sessions = new Map<WebSocket, string>();
  wss.on('connection', (socket, req) => {
    sessions.set(socket, String(req.headers[IDENTITY_HEADERS.session] ?? ''));
    socket.on('close', () => sessions.delete(socket));
    socket.send(JSON.stringify({ type: 'hello', ...describeRequest(req) }));
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

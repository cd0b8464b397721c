// How the gateway says "no": an HTTP status with an OAuth-style JSON body
// ({"error", "error_description"}) and optional headers. Stages return these;
// the handlers (and, for upstream failures, the proxy and the relay) write them,
// to a response or to a raw upgrade socket.
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

export interface Rejection {
  status: number;
  error: string;
  description: string;
  headers?: Record<string, string>;
}

export function reject(status: number, error: string, description: string, headers?: Record<string, string>): Rejection {
  return headers ? { status, error, description, headers } : { status, error, description };
}

/** RFC 6750 §3 challenge. */
function bearerChallenge(error: string, description?: string, scope?: string): string {
  const quote = (value: string) => value.replace(/["\\]/g, '');
  let challenge = `Bearer realm="gateway", error="${error}"`;
  if (description) challenge += `, error_description="${quote(description)}"`;
  if (scope) challenge += `, scope="${quote(scope)}"`;
  return challenge;
}

/** 401 with an RFC 6750 challenge: no token, a bad one, or one revoked. */
export function invalidToken(description: string): Rejection {
  return reject(401, 'invalid_token', description, { 'www-authenticate': bearerChallenge('invalid_token', description) });
}

/** 403 with an RFC 6750 challenge naming the scopes the route requires. */
export function insufficientScope(scopes: readonly string[]): Rejection {
  const description = `requires scope ${scopes.join(' ')}`;
  return reject(403, 'insufficient_scope', description, {
    'www-authenticate': bearerChallenge('insufficient_scope', description, scopes.join(' ')),
  });
}

/** 503 for a moment: the gateway cannot judge the request now (starting, revocation feed stale, shutting down). */
export function temporarilyUnavailable(description: string): Rejection {
  return reject(503, 'temporarily_unavailable', description, { 'retry-after': '1' });
}

function body(rejection: Rejection): string {
  return JSON.stringify({ error: rejection.error, error_description: rejection.description });
}

export function sendRejection(res: ServerResponse, rejection: Rejection, extraHeaders: Record<string, string | string[]> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = body(rejection);
  res.writeHead(rejection.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...extraHeaders,
    ...rejection.headers,
  });
  res.end(text);
}

/**
 * Answers an upgrade request that will not be upgraded (or bytes that never became a
 * request), then closes the socket. `head`: the request was HEAD, so no body may follow.
 */
export function writeRejectionToSocket(
  socket: Duplex,
  rejection: Rejection,
  extraHeaders: Record<string, string> = {},
  options: { head?: boolean } = {},
): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const text = body(rejection);
  const headers = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(text)),
    'cache-control': 'no-store',
    connection: 'close',
    ...extraHeaders,
    ...rejection.headers,
  };
  const head = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  // Destroyed once written, not merely half-closed: a client that never closes its side
  // (a slow-header attacker) would otherwise keep the descriptor open indefinitely.
  const linger = setTimeout(() => socket.destroy(), LINGER_MS);
  linger.unref();
  socket.end(`HTTP/1.1 ${rejection.status} ${STATUS_CODES[rejection.status] ?? ''}\r\n${head}\r\n${options.head ? '' : text}`, () => {
    clearTimeout(linger);
    socket.destroy();
  });
}

/** How long a refused socket may take to accept its small answer before it is cut off. */
const LINGER_MS = 5000;

// Stage 6: forward to the upstream, streaming both bodies, on undici (a
// keep-alive connection pool per upstream origin).
//
// The gateway owns the framing towards upstreams: the request goes out with
// the method, the normalised path and the headers the pipeline decided
// (mutate-headers.ts never passes Host, Content-Length, Transfer-Encoding or
// any hop-by-hop header), and its body is framed from what Node's parser read
// (framing.ts): the same Content-Length, or chunked, or no body at all. undici
// refuses Transfer-Encoding, Connection, Keep-Alive, Upgrade and Expect in the
// headers it is given and fails a body whose length differs from its
// Content-Length, so a slip elsewhere errors instead of smuggling. It also
// never reuses an upstream connection after a body on a GET, HEAD, DELETE or
// OPTIONS, whose handling upstream servers disagree on.
//
// Why not http-proxy (used until the hardening review). Its passes, and what
// replaced each:
//  web-incoming
//   - deleteLength: for DELETE and OPTIONS without Content-Length it set
//     `Content-Length: 0` and deleted Transfer-Encoding, then piped the body
//     anyway: the body reached the upstream as a second request. Replaced by
//     framing.ts and the explicit framing above.
//   - timeout: set an idle timeout on the client socket. Not needed: the
//     server's headersTimeout/requestTimeout and the upstream headersTimeout
//     below cover it.
//   - XHeaders: appended to client-supplied X-Forwarded-*. Was disabled
//     (xfwd: false); mutate-headers.ts drops them and writes its own.
//   - stream: copied every incoming header verbatim, re-parsed the path with
//     url.parse (which can disagree with the normalised path that was
//     matched), framed the upstream request from the (rewritten) headers, and
//     missed client aborts once the body was read (http-proxy #1586).
//     Replaced by dispatch() below: our path, our headers, our framing, and
//     an abort on the response's 'close'.
//  web-outgoing
//   - removeChunked / setConnection: for HTTP/1.0 clients, and to copy the
//     client's own Connection header into the response. Dropped: Node's
//     ServerResponse frames the response for the client it is talking to.
//   - setRedirectHostRewrite: was off; Location passes through unchanged.
//   - writeHeaders: copied every upstream header, hop-by-hop ones included
//     (Connection, Keep-Alive, Transfer-Encoding, Upgrade, Trailer, and the
//     headers the upstream's Connection names). Replaced by
//     forwardableResponseHeaders(): end-to-end headers only.
//   - writeStatusCode: kept in substance (the upstream's status is relayed).
//  ws-incoming: never used. WebSockets are terminated and relayed message by
//   message with ws (websocket/relay.ts), so no upstream ever reads raw client
//   bytes after an upgrade; the relay's upstream handshake is built from the
//   same mutated headers, without framing headers.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Pool, type Dispatcher } from 'undici';
import type { Logger } from '../../common/logger.ts';
import type { Route } from '../routes/schema.ts';
import type { RequestFraming } from './framing.ts';
import { upstreamRequestPath } from './match-route.ts';
import { reject, sendRejection } from './rejection.ts';

export interface ProxyOptions {
  keepAliveIdleMs: number;
  defaultTimeoutMs: number;
  logger: Logger;
  /** Called with the time to the upstream's response headers. */
  onUpstreamResponse?: (routeId: string, seconds: number) => void;
  /**
   * The gateway's own cookies (its session): no upstream may set or clear them. An app that
   * names its own cookie `session` (Flask's default) would otherwise sign the user out.
   */
  reservedCookies?: ReadonlySet<string>;
}

/** Where and how to forward (an admission's Forward decision is one). */
export interface ForwardTarget {
  readonly route: Route;
  /** Path and query to request upstream, relative to the upstream URL's own path (see upstreamPath). */
  readonly path: string;
  /** End-to-end request headers (mutateHeaders): no Host, framing or hop-by-hop header. */
  readonly headers: OutgoingHttpHeaders;
  /** The gateway's own response headers (a renewed session cookie), asked for when the upstream's arrive. */
  readonly responseHeaders?: (() => string[]) | undefined;
}

const UNAVAILABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNRESET',
  'EPIPE',
  'UND_ERR_SOCKET',
]);
const TIMED_OUT = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

// RFC 9110 §7.6.1 hop-by-hop fields, plus Transfer-Encoding: Node frames the
// response to the client itself.
const HOP_BY_HOP_RESPONSE = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * The upstream's response headers that may reach the client, as a flat
 * [name, value, …] list for writeHead: hop-by-hop fields and those its
 * Connection header names are left out, and so is a Set-Cookie for one of
 * `reservedCookies`.
 */
export function forwardableResponseHeaders(rawHeaders: readonly Buffer[], reservedCookies?: ReadonlySet<string>): string[] {
  let connectionListed: Set<string> | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] as Buffer).length === 10 && (rawHeaders[i] as Buffer).toString('latin1').toLowerCase() === 'connection') {
      connectionListed ??= new Set();
      for (const token of (rawHeaders[i + 1] as Buffer).toString('latin1').split(',')) {
        const name = token.trim().toLowerCase();
        if (name) connectionListed.add(name);
      }
    }
  }
  const headers: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] as Buffer).toString('latin1');
    const lower = name.toLowerCase();
    if (HOP_BY_HOP_RESPONSE.has(lower) || connectionListed?.has(lower)) continue;
    const value = (rawHeaders[i + 1] as Buffer).toString('latin1');
    if (reservedCookies?.size && lower === 'set-cookie' && reservedCookies.has(setCookieName(value))) continue;
    headers.push(name, value);
  }
  return headers;
}

/** Cache directives some shared caches obey instead of Cache-Control (RFC 9213; Akamai, Fastly). */
const CDN_CACHE_CONTROL = ['cdn-cache-control', 'surrogate-control'];

/** The cookie a Set-Cookie value sets (RFC 6265 §5.2: what comes before the first "=", trimmed; none, no name). */
function setCookieName(value: string): string {
  const equals = value.indexOf('=');
  return equals === -1 ? '' : value.slice(0, equals).trim();
}

export class UpstreamProxy {
  readonly #pools = new Map<string, Pool>();
  readonly #options: ProxyOptions;
  /** Upstream requests cancelled because their client went away (observable in tests). */
  abandonedByClient = 0;

  constructor(options: ProxyOptions) {
    this.#options = options;
  }

  get reservedCookies(): ReadonlySet<string> | undefined {
    return this.#options.reservedCookies;
  }

  /** The connection pool for an upstream origin, created on first use. */
  poolFor(upstream: URL): Pool {
    let pool = this.#pools.get(upstream.origin);
    if (!pool) {
      pool = new Pool(upstream.origin, {
        // Idle upstream sockets close before the upstream would close them (Node's default is 5 s).
        keepAliveTimeout: this.#options.keepAliveIdleMs,
        keepAliveMaxTimeout: this.#options.keepAliveIdleMs,
        connect: { timeout: this.#options.defaultTimeoutMs },
        pipelining: 1,
        strictContentLength: true,
      });
      // Errors reach each request's handler; the pool's own event only reports connection churn.
      pool.on('connectionError', (_origin, _targets, error) =>
        this.#options.logger.debug({ err: error.message }, 'upstream connection failed'),
      );
      this.#pools.set(upstream.origin, pool);
    }
    return pool;
  }

  /** Forwards `req` with its body framed as Node's parser read it (`framing`), and relays the answer to `res`. */
  forward(req: IncomingMessage, res: ServerResponse, target: ForwardTarget, framing: RequestFraming): void {
    const { route } = target;
    const exchange = new Exchange(this, res, route, route.timeoutMs ?? this.#options.defaultTimeoutMs, target.responseHeaders);
    res.once('close', () => exchange.onClientClose());
    const headers = target.headers as Record<string, string | string[]>;
    if (framing.kind === 'length') headers['content-length'] = String(framing.length);
    this.poolFor(route.upstream).dispatch(
      {
        path: upstreamRequestPath(route, target.path),
        method: req.method ?? 'GET',
        headers,
        body: framing.kind === 'none' ? null : req,
        headersTimeout: exchange.timeoutMs,
        // Streamed responses (long polls, server-sent events) may pause for as long as they like.
        bodyTimeout: 0,
      },
      exchange,
    );
  }

  /** @internal */
  upstreamResponded(routeId: string, startedAt: number): void {
    this.#options.onUpstreamResponse?.(routeId, (performance.now() - startedAt) / 1000);
  }

  /** @internal */
  failed(route: Route, error: Error): void {
    this.#options.logger.warn(
      { route: route.id, code: (error as NodeJS.ErrnoException).code ?? '', err: error.message },
      'upstream request failed',
    );
  }

  close(): void {
    for (const pool of this.#pools.values()) void pool.destroy().catch(() => undefined);
    this.#pools.clear();
  }
}

/** One request's journey upstream and back: undici's (pre-controller) dispatch handler. */
class Exchange implements Dispatcher.DispatchHandler {
  readonly #proxy: UpstreamProxy;
  readonly #res: ServerResponse;
  readonly #route: Route;
  readonly timeoutMs: number;
  readonly #startedAt = performance.now();
  #abort: ((error?: Error) => void) | undefined;
  #resume: (() => void) | undefined;
  /** The client went away: nothing more is written, and an upstream error is expected. */
  #abandoned = false;

  readonly #ownHeaders: (() => string[]) | undefined;

  constructor(proxy: UpstreamProxy, res: ServerResponse, route: Route, timeoutMs: number, ownHeaders?: () => string[]) {
    this.#proxy = proxy;
    this.#res = res;
    this.#route = route;
    this.timeoutMs = timeoutMs;
    this.#ownHeaders = ownHeaders;
  }

  onClientClose(): void {
    if (this.#res.writableFinished || this.#abandoned) return;
    // The client left before the response was complete: stop the upstream work too.
    this.#abandoned = true;
    this.#proxy.abandonedByClient += 1;
    this.#abort?.();
  }

  onConnect(abort: (error?: Error) => void): void {
    this.#abort = abort;
    if (this.#abandoned) abort();
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    if (statusCode < 200) return true; // interim (1xx) responses are not relayed
    this.#resume = resume;
    this.#proxy.upstreamResponded(this.#route.id, this.#startedAt);
    if (this.#abandoned) return false;
    try {
      let headers = forwardableResponseHeaders(rawHeaders, this.#proxy.reservedCookies);
      const own = this.#ownHeaders?.();
      if (own?.length) {
        // Set-Cookie is appended: an upstream's own must not replace the gateway's, nor the reverse.
        // Any other header the gateway sets (Cache-Control) replaces the upstream's, and with
        // Cache-Control go the CDN-targeted fields that take precedence over it (RFC 9213).
        const replaced = new Set(own.filter((_, i) => i % 2 === 0 && own[i] !== 'set-cookie'));
        if (replaced.has('cache-control')) for (const name of CDN_CACHE_CONTROL) replaced.add(name);
        if (replaced.size) headers = headers.filter((_, i, all) => !replaced.has((all[i - (i % 2)] as string).toLowerCase()));
        headers.push(...own);
      }
      this.#res.writeHead(statusCode, headers);
    } catch (error) {
      // A header Node will not write (invalid characters): the response cannot be relayed.
      this.#proxy.failed(this.#route, error as Error);
      this.#abandoned = true;
      this.#abort?.();
      sendRejection(this.#res, reject(502, 'bad_gateway', 'upstream sent an invalid response'));
      return false;
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.#abandoned) return false;
    if (this.#res.write(chunk)) return true;
    this.#res.once('drain', this.#onDrain);
    return false;
  }

  readonly #onDrain = (): void => {
    if (!this.#abandoned) this.#resume?.();
  };

  onComplete(): void {
    if (!this.#abandoned) this.#res.end();
  }

  onError(error: Error): void {
    if (this.#abandoned) return; // our own abort after the client left
    this.#abandoned = true;
    const code = (error as NodeJS.ErrnoException).code ?? '';
    this.#proxy.failed(this.#route, error);
    if (this.#res.headersSent) {
      this.#res.destroy(); // the body broke off mid-way; the client must not mistake it for complete
      return;
    }
    if (TIMED_OUT.has(code)) {
      sendRejection(this.#res, reject(504, 'upstream_timeout', `upstream did not answer within ${this.timeoutMs} ms`));
      return;
    }
    sendRejection(this.#res, reject(502, 'bad_gateway', UNAVAILABLE.has(code) ? 'upstream unavailable' : 'upstream request failed'));
  }
}

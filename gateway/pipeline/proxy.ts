// Stage 6: forward to the upstream with http-proxy, streaming both bodies (no
// body parser). What http-proxy leaves to us:
//  - a keep-alive agent per upstream, idling out before the upstream would;
//  - the upstream timeout, tracked here: http-proxy's own proxyTimeout surfaces
//    as "socket hang up", indistinguishable from a crash (http-proxy #1331);
//  - a client that goes away must take the upstream request with it
//    (http-proxy #1586: 'aborted' does not fire once the request body is read);
//  - an error handler on every path, answering JSON 502/504.
import http, { type ClientRequest, type IncomingMessage, type ServerResponse, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import httpProxy from 'http-proxy';
import type { Logger } from '../../common/logger.ts';
import type { Route } from '../routes/schema.ts';
import { reject, sendRejection } from './rejection.ts';

export interface ProxyOptions {
  keepAliveIdleMs: number;
  defaultTimeoutMs: number;
  logger: Logger;
  /** Called with the time to the upstream's response headers. */
  onUpstreamResponse?: (routeId: string, seconds: number) => void;
}

interface InFlight {
  proxyReq: ClientRequest | undefined;
  timer: NodeJS.Timeout | undefined;
  /** Set once the exchange is over from our side: timed out or client gone. */
  abandoned: boolean;
  routeId: string;
  startedAt: number;
}

export interface ForwardTarget {
  route: Route;
  /** Path and query to request upstream (see upstreamPath). */
  path: string;
  headers: OutgoingHttpHeaders;
}

const REFUSED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE']);

// Each request's state rides on the request object itself. A WeakMap keyed by
// requests cost ~15 µs of GC per request (a third of the gateway's lead over a
// bare proxy): every young-generation GC had to walk its ephemeron table, and
// request graphs it held got promoted to the old generation (docs/BENCHMARKS.md).
const IN_FLIGHT = Symbol('gateway.inFlight');
type TrackedRequest = IncomingMessage & { [IN_FLIGHT]?: InFlight };

export class UpstreamProxy {
  readonly #proxy = httpProxy.createProxyServer({ xfwd: false, changeOrigin: true, ws: false });
  readonly #agents = new Map<string, http.Agent>();
  readonly #options: ProxyOptions;
  /** Upstream requests destroyed because their client went away (observable in tests). */
  abandonedByClient = 0;

  constructor(options: ProxyOptions) {
    this.#options = options;
    this.#proxy.on('proxyReq', (proxyReq, req) => {
      const state = (req as TrackedRequest)[IN_FLIGHT];
      if (!state) return;
      state.proxyReq = proxyReq;
      if (state.abandoned) proxyReq.destroy();
    });
    this.#proxy.on('proxyRes', (proxyRes, req, res) => {
      const state = (req as TrackedRequest)[IN_FLIGHT];
      if (state) {
        clearTimeout(state.timer);
        this.#options.onUpstreamResponse?.(state.routeId, (performance.now() - state.startedAt) / 1000);
      }
      // The upstream's keep-alive parameters describe its connection to us, not ours to the client.
      delete proxyRes.headers['keep-alive'];
      proxyRes.on('error', (error) => this.#options.logger.debug({ err: error.message }, 'upstream response aborted'));
      // An upstream that dies mid-body: http-proxy's pipe would leave the client waiting forever
      // for the rest. Cut the client off so it sees a broken response, not a hang.
      proxyRes.once('close', () => {
        if (!proxyRes.complete) res.destroy();
      });
    });
    // Only reached if a path without a callback errors; never let it crash the process.
    this.#proxy.on('error', (error) => this.#options.logger.warn({ err: error.message }, 'proxy error'));
  }

  /** The keep-alive agent for an upstream origin, created on first use. */
  agentFor(upstream: URL): http.Agent {
    let agent = this.#agents.get(upstream.origin);
    if (!agent) {
      const options = { keepAlive: true, timeout: this.#options.keepAliveIdleMs, scheduling: 'lifo' as const };
      agent = upstream.protocol === 'https:' ? new https.Agent(options) : new http.Agent(options);
      this.#agents.set(upstream.origin, agent);
    }
    return agent;
  }

  forward(req: IncomingMessage, res: ServerResponse, target: ForwardTarget): void {
    const { route } = target;
    const state: InFlight = { proxyReq: undefined, timer: undefined, abandoned: false, routeId: route.id, startedAt: performance.now() };
    (req as TrackedRequest)[IN_FLIGHT] = state;
    // http-proxy builds the upstream request from req.url and req.headers.
    req.url = target.path;
    req.headers = target.headers as IncomingMessage['headers'];

    const timeoutMs = route.timeoutMs ?? this.#options.defaultTimeoutMs;
    state.timer = setTimeout(() => {
      state.abandoned = true;
      state.proxyReq?.destroy();
      sendRejection(res, reject(504, 'upstream_timeout', `upstream did not answer within ${timeoutMs} ms`));
    }, timeoutMs);

    res.once('close', () => {
      clearTimeout(state.timer);
      if (!res.writableFinished && !state.abandoned) {
        // The client left before the response was complete: stop the upstream work too.
        state.abandoned = true;
        this.abandonedByClient += 1;
        state.proxyReq?.destroy();
      }
    });

    this.#proxy.web(req, res, { target: route.upstream, agent: this.agentFor(route.upstream) }, (error) => {
      clearTimeout(state.timer);
      if (state.abandoned) return; // our own destroy() after a timeout or client abort
      const code = (error as NodeJS.ErrnoException).code ?? '';
      this.#options.logger.warn({ route: route.id, code, err: error.message }, 'upstream request failed');
      if (res.headersSent) {
        res.destroy(); // the body broke off mid-way; the client must not mistake it for complete
        return;
      }
      const description = REFUSED.has(code) ? 'upstream unavailable' : 'upstream request failed';
      sendRejection(res, reject(502, 'bad_gateway', description));
    });
  }

  close(): void {
    for (const agent of this.#agents.values()) agent.destroy();
    this.#agents.clear();
    this.#proxy.close();
  }
}

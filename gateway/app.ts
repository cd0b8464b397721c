// The gateway, assembled: one node:http server whose requests go through the
// pipeline (match route → authenticate → check revocation → authorize →
// mutate headers → proxy) and whose upgrades go through the same policy before
// the WebSocket relay. The gateway's own endpoints (/healthz, /readyz) are a
// small Koa app. `startGateway` runs it in-process, for server.ts and tests.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import Router from '@koa/router';
import Koa from 'koa';
import { createLogger, type Logger } from '../common/logger.ts';
import { bearerSecretMatches } from '../common/secrets.ts';
import { loadConfig, type GatewayConfig } from './config.ts';
import { discoverIssuer } from './keys/discovery.ts';
import { KeyStore } from './keys/key-store.ts';
import { backoffDelay, sleep } from './lib/backoff.ts';
import { matchRoute, parseRequestTarget, upstreamPath, upstreamUrl } from './pipeline/match-route.ts';
import { requestFraming } from './pipeline/framing.ts';
import { mutateHeaders, requestIdFor, strippedHeaderSet } from './pipeline/mutate-headers.ts';
import { UpstreamProxy } from './pipeline/proxy.ts';
import { reject, sendRejection, writeRejectionToSocket, type Rejection } from './pipeline/rejection.ts';
import { checkRevocation } from './pipeline/check-revocation.ts';
import { runPolicy, type PolicyDependencies, type PolicyResult } from './pipeline/run-policy.ts';
import { GatewayMetrics } from './metrics.ts';
import { Denylist } from './revocations/denylist.ts';
import { RevocationFeedClient, type FeedState, type FeedStatus } from './revocations/feed-client.ts';
import { RouteTable } from './routes/route-table.ts';
import type { Route } from './routes/schema.ts';
import { AccessTokenVerifier } from './tokens/verify-access-token.ts';
import { VerificationCache } from './tokens/verification-cache.ts';
import { WebSocketRelay } from './websocket/relay.ts';
import { SocketRegistry } from './websocket/socket-registry.ts';

const OWN_ENDPOINTS = new Set(['/healthz', '/readyz', '/metrics']);

export interface StartOptions {
  logger?: Logger;
  /** Environment for `${VAR}` substitution in the routes file; default process.env. */
  env?: Record<string, string | undefined>;
  /** Resolve only once keys are fetched and the denylist synced (default true). */
  waitUntilReady?: boolean;
  /** With waitUntilReady: give up (and close) after this long. Default 30 s. */
  readyTimeoutMs?: number;
  /** With waitUntilReady: also wait up to this long for the live revocation stream. Default 5 s; 0 skips. */
  liveTimeoutMs?: number;
}

export interface Readiness {
  ready: boolean;
  checks: {
    routes: boolean;
    keys: boolean;
    /** The denylist has completed its initial sync. */
    denylist: boolean;
    feed: FeedState;
    /** The feed has been down longer than REVOCATION_MAX_STALENESS. */
    stale: boolean;
  };
  /** Details: cursor, staleness, connects, last error. */
  feed: FeedStatus;
}

export interface Gateway {
  /** e.g. http://127.0.0.1:53012 */
  readonly url: string;
  readonly port: number;
  readonly config: GatewayConfig;
  readonly logger: Logger;
  readonly server: http.Server;
  readonly routes: RouteTable;
  /** In-memory denylist; `await gateway.denylist.waitFor(...)` to observe revocations arriving. */
  readonly denylist: Denylist;
  readonly feed: RevocationFeedClient;
  readonly keys: KeyStore;
  readonly verifier: AccessTokenVerifier;
  readonly sockets: SocketRegistry;
  readonly proxy: UpstreamProxy;
  readonly metrics: GatewayMetrics;
  readiness(): Readiness;
  /** Resolves when keys are loaded and the denylist has synced. */
  whenReady(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts a gateway. `config` overrides the defaults of loadConfig({}) (not the
 * process environment): e.g. `{ port: 0, issuer, routes: { routes: [...] }, clientId, clientSecret }`.
 */
export async function startGateway(config: Partial<GatewayConfig> = {}, options: StartOptions = {}): Promise<Gateway> {
  const settings: GatewayConfig = { ...loadConfig({}), ...config };
  const logger = options.logger ?? createLogger({ name: 'gateway' });
  // One line per request, with fixed fields this file writes (never a header, body or query):
  // nothing to redact. pino's path redaction (the `*.x` paths of common/logger.ts) runs on
  // every key of every line and cost ~12 µs and ~38 KB of garbage per request (docs/BENCHMARKS.md).
  const accessLog = logger.child({ log: 'access' }, { redact: [] });

  const routes = await RouteTable.load(settings.routes, { logger, env: options.env ?? process.env });
  routes.watch();

  const denylist = new Denylist({ retainMs: settings.clockToleranceMs });
  const keys = new KeyStore({ refetchCooldownMs: settings.jwksRefetchCooldownMs, logger });
  const verifier = new AccessTokenVerifier({
    issuer: settings.issuer,
    keys,
    clockToleranceMs: settings.clockToleranceMs,
    cache: new VerificationCache(settings.verifyCacheSize),
  });
  const feed = new RevocationFeedClient({
    clientId: settings.clientId,
    clientSecret: settings.clientSecret,
    denylist,
    logger,
    idleTimeoutMs: settings.feedIdleTimeoutMs,
    reconnectMinMs: settings.feedReconnectMinMs,
    reconnectMaxMs: settings.feedReconnectMaxMs,
  });
  const metrics = new GatewayMetrics({ keys, verifier, denylist, feed });
  const proxy = new UpstreamProxy({
    keepAliveIdleMs: settings.upstreamKeepAliveIdleMs,
    defaultTimeoutMs: settings.upstreamTimeoutMs,
    logger,
    onUpstreamResponse: (routeId, seconds) => metrics.upstreamLatency.observe({ route: routeId }, seconds),
  });
  const sockets = new SocketRegistry();
  const relay = new WebSocketRelay(sockets, {
    logger,
    maxMessageBytes: settings.websocketMaxMessageBytes,
    clockToleranceMs: settings.clockToleranceMs,
    stallTimeoutMs: settings.websocketStallTimeoutMs,
  });

  // A revocation closes the WebSockets it covers the moment it is applied.
  denylist.on('revoked', (revocation) => {
    const closed = sockets.closeRevoked(revocation);
    if (closed > 0) logger.info({ id: revocation.id, kind: revocation.kind, closed }, 'closed revoked WebSockets');
    // Entries replayed by the first sync are old news, not propagation delay.
    if (feed.synced && revocation.createdAtMs !== undefined) {
      metrics.revocationPropagation.observe(Math.max(0, Date.now() - revocation.createdAtMs) / 1000);
    }
  });
  // Tokens signed by a key that left the JWKS must be verified afresh (and fail).
  keys.on('change', ({ removed }) => verifier.cache.evictKids(removed));
  const pruneTimer = setInterval(() => denylist.prune(), 30_000);
  pruneTimer.unref();

  const isStale = () => settings.revocationMaxStalenessMs !== undefined && feed.stalenessMs() > settings.revocationMaxStalenessMs;
  const isReady = () => keys.loaded && feed.synced;
  const readiness = (): Readiness => {
    const status = feed.status();
    const stale = isStale();
    return {
      ready: routes.routes.length > 0 && keys.loaded && status.synced && !stale,
      checks: { routes: routes.routes.length > 0, keys: keys.loaded, denylist: status.synced, feed: status.state, stale },
      feed: status,
    };
  };
  const policy: PolicyDependencies = {
    verifier,
    denylist,
    feedHealth: () => ({ synced: feed.synced, stalenessMs: feed.stalenessMs() }),
    isReady,
    maxStalenessMs: settings.revocationMaxStalenessMs,
  };

  const ownEndpoints = ownEndpointsApp(readiness, metrics, settings.metricsToken).callback();
  const strippedHeaders = strippedHeaderSet(settings.stripHeaders);

  // ---- plain requests ------------------------------------------------------
  async function handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    const requestId = requestIdFor(req.headers['x-request-id']);
    res.setHeader('x-request-id', requestId);
    const entry: { route?: string; subject?: string; auth?: string } = {};
    const target = parseRequestTarget(req.url);
    res.once('close', () => {
      accessLog.info({
        requestId,
        method: req.method,
        path: target?.path, // never the query: it could carry a token
        route: entry.route,
        status: res.headersSent ? res.statusCode : 499,
        latencyMs: Math.round((performance.now() - started) * 1000) / 1000,
        subject: entry.subject,
        auth: entry.auth,
      });
      metrics.requests.inc({ route: entry.route ?? 'none', status: res.headersSent ? res.statusCode : 499 });
    });

    if (!target) return sendRejection(res, reject(400, 'invalid_request', 'unsupported request target'));
    // Checked before anything else: a body the gateway cannot forward exactly as received is never forwarded.
    const framing = requestFraming(req.headers);
    if (framing.kind === 'unsupported') return sendRejection(res, reject(400, 'invalid_request', framing.reason), { connection: 'close' });
    if (OWN_ENDPOINTS.has(target.path)) {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        return sendRejection(res, reject(405, 'method_not_allowed', 'method not allowed'), { allow: 'GET, HEAD' });
      }
      return ownEndpoints(req, res);
    }
    const match = matchRoute(routes.routes, { method: req.method ?? 'GET', host: req.headers.host, path: target.path });
    if (match.kind === 'not_found') return sendRejection(res, reject(404, 'not_found', 'no route for this path'));
    if (match.kind === 'method_not_allowed') {
      return sendRejection(res, reject(405, 'method_not_allowed', 'method not allowed on this route'), { allow: match.allow.join(', ') });
    }
    const { route } = match;
    entry.route = route.id;
    const decision = await runPolicy(route, req.headers.authorization, policy);
    recordAuthOutcome(metrics, entry, route, decision);
    if (!decision.ok) return sendRejection(res, decision.rejection);
    entry.subject = decision.claims?.sub;
    const headers = mutateHeaders(req.headers, {
      route,
      claims: decision.claims,
      requestId,
      remoteAddress: req.socket.remoteAddress,
      encrypted: req.socket instanceof TLSSocket,
      strippedHeaders,
    });
    proxy.forward(req, res, { route, path: upstreamPath(route, target), headers, framing });
  }

  // ---- WebSocket upgrades --------------------------------------------------
  async function handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const requestId = requestIdFor(req.headers['x-request-id']);
    const target = parseRequestTarget(req.url);
    const refuse = (rejection: Rejection, route?: Route) => {
      accessLog.info({ requestId, method: 'UPGRADE', path: target?.path, route: route?.id, status: rejection.status });
      writeRejectionToSocket(socket, rejection, { 'x-request-id': requestId }, { head: req.method === 'HEAD' });
    };
    // RFC 6455 §4.1: the opening handshake is a GET.
    if (!target || req.method !== 'GET' || String(req.headers.upgrade).toLowerCase() !== 'websocket') {
      return refuse(reject(400, 'invalid_request', 'only WebSocket upgrades are supported'));
    }
    // Checked before anything is opened upstream (ws would refuse these handshakes later anyway).
    if (!/^[+/0-9A-Za-z]{22}==$/.test(String(req.headers['sec-websocket-key'])) || req.headers['sec-websocket-version'] !== '13') {
      return refuse(reject(400, 'invalid_request', 'malformed WebSocket handshake'));
    }
    const match = matchRoute(routes.routes, { method: 'GET', host: req.headers.host, path: target.path });
    if (match.kind !== 'matched' || !match.route.websocket) return refuse(reject(404, 'not_found', 'no WebSocket route for this path'));
    const { route } = match;
    const decision = await runPolicy(route, req.headers.authorization, policy);
    if (!decision.ok) return refuse(decision.rejection, route);
    if (socket.destroyed) return;
    const headers = mutateHeaders(req.headers, {
      route,
      claims: decision.claims,
      requestId,
      remoteAddress: req.socket.remoteAddress,
      encrypted: req.socket instanceof TLSSocket,
      strippedHeaders,
      websocket: true,
    });
    relay.open(req, socket, head, {
      routeId: route.id,
      url: upstreamUrl(route, upstreamPath(route, target), true).href,
      headers,
      claims: decision.claims,
      handshakeTimeoutMs: route.timeoutMs ?? settings.upstreamTimeoutMs,
      requestId,
      recheck: () => checkRevocation(decision.claims, policy.denylist, policy.feedHealth(), policy.maxStalenessMs),
      onHandshake: (status) =>
        accessLog.info({ requestId, method: 'UPGRADE', path: target.path, route: route.id, status, subject: decision.claims?.sub }),
    });
  }

  const headersTimeoutMs = settings.headersTimeoutMs ?? 20_000;
  // Node checks header and request timeouts on this interval (default 30 s): keep it below the timeout.
  const connectionsCheckingInterval = Math.min(30_000, Math.max(50, Math.floor(headersTimeoutMs / 4)));
  const server = http.createServer({ connectionsCheckingInterval }, (req, res) => {
    handleRequest(req, res).catch((error: Error) => {
      logger.error({ err: error }, 'request handling failed');
      sendRejection(res, reject(500, 'server_error', 'internal error'));
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Node hands the raw socket over without an error listener; a reset must not crash us.
    socket.on('error', (error) => logger.debug({ err: error.message }, 'upgrade socket error'));
    handleUpgrade(req, socket, head).catch((error: Error) => {
      logger.error({ err: error }, 'upgrade handling failed');
      writeRejectionToSocket(socket, reject(500, 'server_error', 'internal error'));
    });
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (error.code === 'ECONNRESET' || !socket.writable) return socket.destroy();
    // A pipelined request went bad (or came after `Connection: close`) while an earlier
    // response is still due. Nothing may be written that the peer, or a proxy in front,
    // would take for that response: the pending response becomes the connection's last.
    const pending = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (pending) {
      if (pending.writableFinished) socket.destroy();
      else pending.once('finish', () => socket.end(() => socket.destroy()));
      return;
    }
    // A HEAD request gets no body, even in an error; the bytes received tell whether it was one.
    const head = { head: (error as { rawPacket?: Buffer }).rawPacket?.toString('latin1', 0, 5) === 'HEAD ' };
    // The statuses Node itself would send: headers over the size limit are 431, headers or a
    // request too slow to arrive (headersTimeout, requestTimeout) are 408; other garbage is 400.
    if (error.code === 'HPE_HEADER_OVERFLOW') {
      return writeRejectionToSocket(socket, reject(431, 'request_header_fields_too_large', 'request headers too large'), {}, head);
    }
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      return writeRejectionToSocket(socket, reject(408, 'request_timeout', 'request not received in time'), {}, head);
    }
    writeRejectionToSocket(socket, reject(400, 'invalid_request', 'malformed HTTP request'), {}, head);
  });
  // Slow clients must not hold sockets forever; idle keep-alive connections are cheap but finite.
  server.headersTimeout = headersTimeoutMs;
  server.requestTimeout = 120_000;
  server.keepAliveTimeout = 30_000;

  await new Promise<void>((resolve, reject_) => {
    server.once('error', reject_);
    server.listen(settings.port, settings.host, () => {
      server.off('error', reject_);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const hostForUrl = settings.host.includes(':') ? `[${settings.host}]` : settings.host;
  const url = `http://${hostForUrl === '0.0.0.0' || hostForUrl === '[::]' ? '127.0.0.1' : hostForUrl}:${port}`;

  // ---- bootstrap: discovery → keys → denylist, retried until it works --------
  const bootAbort = new AbortController();
  const ready = (async () => {
    for (let attempt = 0; !bootAbort.signal.aborted; attempt += 1) {
      try {
        const metadata = await discoverIssuer(settings.issuer, { signal: bootAbort.signal, serviceUrl: settings.tokenServiceUrl });
        await keys.start(metadata.jwksUri);
        await feed.start({ feedUrl: metadata.revocationFeedEndpoint, streamUrl: metadata.revocationStreamEndpoint });
        if (!bootAbort.signal.aborted) logger.info({ url, kids: keys.kids, cursor: feed.cursor }, 'gateway ready');
        return;
      } catch (error) {
        if (bootAbort.signal.aborted) return;
        logger.warn({ issuer: settings.issuer, err: (error as Error).message }, 'token service not reachable yet; retrying');
        await sleep(backoffDelay(attempt, { minMs: settings.feedReconnectMinMs, maxMs: settings.feedReconnectMaxMs }), bootAbort.signal);
      }
    }
  })();

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      bootAbort.abort();
      clearInterval(pruneTimer);
      routes.close();
      keys.close();
      relay.closeAll(1001, 'gateway shutting down');
      relay.close();
      const drained = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const grace = new AbortController();
      await Promise.race([drained, sleep(settings.shutdownGraceMs, grace.signal)]);
      grace.abort();
      server.closeAllConnections();
      await drained;
      await feed.close();
      proxy.close();
      logger.info('gateway stopped');
    })());

  logger.info({ url, routes: routes.routes.map((r) => r.id), issuer: settings.issuer }, 'gateway listening');

  const gateway: Gateway = {
    url,
    port,
    config: settings,
    logger,
    server,
    routes,
    denylist,
    feed,
    keys,
    verifier,
    sockets,
    proxy,
    metrics,
    readiness,
    whenReady: () => ready,
    close,
  };

  if (options.waitUntilReady !== false) {
    const timeoutMs = options.readyTimeoutMs ?? 30_000;
    const timedOut = new AbortController();
    const outcome = await Promise.race([
      ready.then(() => 'ready' as const),
      sleep(timeoutMs, timedOut.signal).then(() => 'timeout' as const),
    ]);
    timedOut.abort();
    if (outcome === 'timeout' || !isReady()) {
      await close();
      throw new Error(
        `gateway not ready within ${timeoutMs} ms (token service at ${settings.issuer} unreachable or refusing the feed client)`,
      );
    }
    if ((options.liveTimeoutMs ?? 5000) > 0) {
      await feed
        .whenLive(options.liveTimeoutMs ?? 5000)
        .catch((error: Error) => logger.warn({ err: error.message }, 'revocation stream not live yet'));
    }
  }
  return gateway;
}

/** Counts the policy decision and notes it for the access log. */
function recordAuthOutcome(metrics: GatewayMetrics, entry: { auth?: string }, route: Route, decision: PolicyResult): void {
  if (route.auth === 'none') {
    entry.auth = 'public';
    return;
  }
  const outcome = decision.ok ? (decision.claims ? 'authenticated' : 'anonymous') : decision.rejection.error;
  const reason = decision.ok ? '' : decision.rejection.description;
  entry.auth = reason ? `${outcome}: ${reason}` : outcome;
  metrics.authOutcomes.inc({ outcome, reason });
}

function ownEndpointsApp(readiness: () => Readiness, metrics: GatewayMetrics, metricsToken: string | undefined): Koa {
  const app = new Koa();
  app.silent = true;
  const router = new Router();
  router.get('/metrics', async (ctx) => {
    if (metricsToken && !bearerSecretMatches(ctx.get('authorization'), metricsToken)) {
      ctx.status = 401;
      ctx.set('www-authenticate', 'Bearer realm="metrics"');
      ctx.body = { error: 'unauthorized', error_description: 'metrics require METRICS_TOKEN' };
      return;
    }
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });
  router.get('/healthz', (ctx) => {
    ctx.set('cache-control', 'no-store');
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', (ctx) => {
    const state = readiness();
    ctx.set('cache-control', 'no-store');
    ctx.status = state.ready ? 200 : 503;
    ctx.body = {
      status: state.ready ? 'ready' : 'not_ready',
      ...state.checks,
      cursor: state.feed.cursor,
      staleness_ms: Number.isFinite(state.feed.stalenessMs) ? state.feed.stalenessMs : null,
    };
  });
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

// The gateway, assembled: its parts built and wired together, one node:http
// server whose requests go to request-handler.ts, whose upgrades go to
// upgrade-handler.ts and whose malformed requests go to client-errors.ts; the
// gateway's own endpoints are health.ts; start-up (startup.ts) and shutdown
// (shutdown.ts). `startGateway` runs it in-process, for server.ts and tests.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger, type Logger } from '../common/logger.ts';
import { loadAssertionKeys, type AssertionKeys } from './assertions/keys.ts';
import { rs256Signer } from './assertions/signer.ts';
import { handleClientError } from './client-errors.ts';
import { loadConfig, type GatewayConfig } from './config.ts';
import { ownEndpoints, readinessOf, type Readiness } from './health.ts';
import { cookieNames, TOKEN_SERVICE_COOKIES } from '../contract/browser-cookies.ts';
import { KeyStore } from './keys/key-store.ts';
import { GatewayMetrics } from './metrics.ts';
import { recheckRevocation, type AdmissionDependencies } from './pipeline/admission.ts';
import { invalidToken, temporarilyUnavailable } from './pipeline/rejection.ts';
import type { SessionPolicy } from './pipeline/session-credential.ts';
import { authEndpoints } from './sessions/auth-endpoints.ts';
import { CookieSessions } from './sessions/cookie-sessions.ts';
import { TokenClient } from './sessions/token-client.ts';
import { DEVELOPMENT_SESSION_COOKIE_KEY, isPlainHttpLoopback } from '../common/development.ts';
import { IdentityAsserter } from './pipeline/assert-identity.ts';
import { strippedHeaderSet } from './pipeline/mutate-headers.ts';
import { UpstreamProxy } from './pipeline/proxy.ts';
import { createRequestHandler } from './request-handler.ts';
import { Denylist } from './revocations/denylist.ts';
import { RevocationFeedClient } from './revocations/feed-client.ts';
import { RouteTable } from './routes/route-table.ts';
import { drainServer } from './shutdown.ts';
import { bootstrap, waitUntilReady } from './startup.ts';
import { AccessTokenVerifier, TokenRejected } from './tokens/verify-access-token.ts';
import { VerificationCache } from './tokens/verification-cache.ts';
import { createUpgradeHandler } from './upgrade-handler.ts';
import { WebSocketRelay } from './websocket/relay.ts';
import { SocketRegistry } from './websocket/socket-registry.ts';

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
  /** Signs (and caches) the X-Auth-Assertion; undefined when GATEWAY_ASSERTION is off. */
  readonly asserter: IdentityAsserter | undefined;
  /** The assertion keys (the signer and the published JWKS); undefined when GATEWAY_ASSERTION is off. */
  readonly assertionKeys: AssertionKeys | undefined;
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
  // One line per request, with fixed fields the handlers write (never a header, body or query):
  // nothing to redact. pino's path redaction (the `*.x` paths of common/logger.ts) runs on
  // every key of every line and cost ~12 µs and ~38 KB of garbage per request (docs/BENCHMARKS.md).
  const accessLog = logger.child({ log: 'access' }, { redact: [] });

  // A missing or unusable key is a configuration error, before anything listens.
  const assertionKeys = settings.assertion ? await loadAssertionKeys(settings, logger) : undefined;
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
  // The asserter exists once the server listens (its default issuer names the port), before any scrape.
  const metrics = new GatewayMetrics({ keys, verifier, denylist, feed, assertionStats: () => asserter?.stats });
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

  // Cookie sessions (backend-for-frontend): when keys are configured, or in local development.
  const cookieKeys =
    settings.sessionCookieKeys ??
    (isPlainHttpLoopback(settings.issuer) ? [Buffer.from(DEVELOPMENT_SESSION_COOKIE_KEY, 'base64')] : undefined);
  const tokenClient = new TokenClient({ issuer: settings.issuer, clientId: settings.clientId, clientSecret: settings.clientSecret, keys });
  // The public URL may name the port the server is about to get (port 0 in tests): settled after listen.
  const browserFacing: { url: string | undefined } = { url: settings.publicUrl };
  const sessionPolicy: SessionPolicy | undefined = cookieKeys && {
    sessions: new CookieSessions({
      keys: cookieKeys,
      // __Host-: Secure, Path=/, no Domain, so no subdomain can set or shadow it.
      cookieName: settings.sessionCookieName ?? (settings.publicUrl?.startsWith('https:') ? '__Host-session' : 'session'),
      secure: settings.publicUrl?.startsWith('https:') ?? false,
      maxAgeMs: settings.cookieSessionMaxAgeMs,
      refreshMarginMs: settings.sessionRefreshMarginMs,
      client: tokenClient,
      logger,
    }),
    allowedOrigins: new Set(settings.allowedOrigins.map((origin) => origin.toLowerCase())),
  };

  const ownCookies = sessionPolicy ? sessionPolicy.sessions.ownCookieNames : [];
  const proxy = new UpstreamProxy({
    keepAliveIdleMs: settings.upstreamKeepAliveIdleMs,
    defaultTimeoutMs: settings.upstreamTimeoutMs,
    logger,
    onUpstreamResponse: (routeId, seconds) => metrics.upstreamLatency.observe({ route: routeId }, seconds),
    reservedCookies: new Set(ownCookies),
  });
  const isReady = () => keys.loaded && feed.synced;
  const readiness = () => readinessOf({ routes, keys, feed, maxStalenessMs: settings.revocationMaxStalenessMs });
  const admission: AdmissionDependencies = {
    routes,
    verifier,
    denylist,
    feedHealth: () => ({ synced: feed.synced, stalenessMs: feed.stalenessMs() }),
    isReady,
    maxStalenessMs: settings.revocationMaxStalenessMs,
    strippedHeaders: strippedHeaderSet(settings.stripHeaders),
    sessions: sessionPolicy,
    privateCookies: new Set([...ownCookies, ...cookieNames(TOKEN_SERVICE_COOKIES)]),
    ownCookies: new Set(ownCookies),
  };
  let authHandler: ReturnType<typeof authEndpoints> | undefined;
  const auth = sessionPolicy && {
    prefix: settings.authPathPrefix,
    handle: (req: http.IncomingMessage, res: http.ServerResponse, path: string, query: string) =>
      (authHandler as ReturnType<typeof authEndpoints>)(req, res, path, query),
  };

  const { headersTimeoutMs } = settings;
  // Node checks header and request timeouts on this interval (default 30 s): keep it below the timeout.
  const connectionsCheckingInterval = Math.min(30_000, Math.max(50, Math.floor(headersTimeoutMs / 4)));
  const server = http.createServer(
    { connectionsCheckingInterval },
    createRequestHandler({
      admission,
      proxy,
      ownEndpoints: ownEndpoints(readiness, metrics, settings.metricsToken, assertionKeys?.jwks),
      metrics,
      accessLog,
      logger,
      auth,
    }),
  );
  server.on('upgrade', createUpgradeHandler({ admission, relay, accessLog, logger, upstreamTimeoutMs: settings.upstreamTimeoutMs }));
  server.on('clientError', handleClientError);
  // Slow clients must not hold sockets forever; idle keep-alive connections are cheap but finite.
  server.headersTimeout = headersTimeoutMs;
  server.requestTimeout = 120_000;
  server.keepAliveTimeout = 30_000;
  const { url, port } = await listen(server, settings.port, settings.host);
  browserFacing.url ??= `http://localhost:${port}`;
  if (sessionPolicy) {
    const publicUrl = browserFacing.url;
    (sessionPolicy.allowedOrigins as Set<string>).add(new URL(publicUrl).origin);
    authHandler = authEndpoints({
      prefix: settings.authPathPrefix,
      publicUrl,
      issuer: settings.issuer,
      scopes: settings.signInScopes,
      sessions: sessionPolicy.sessions,
      client: tokenClient,
      allowedOrigins: sessionPolicy.allowedOrigins,
      judge: async (accessToken) => {
        let claims;
        try {
          claims = await verifier.claimsOf(accessToken);
        } catch (error) {
          // A token refused is not proof the session ended (a rotated key not fetched yet); say so, keep the cookie.
          const rejection =
            error instanceof TokenRejected ? invalidToken(error.reason) : temporarilyUnavailable('the session could not be checked');
          return { ok: false, ended: false, rejection };
        }
        const revoked = recheckRevocation(admission, claims);
        return revoked ? { ok: false, ended: revoked.status === 401, rejection: revoked } : { ok: true, claims };
      },
      logger,
    });
  }
  // The default issuer names the port bound (port 0 in tests); no request is read before this returns.
  const asserter = assertionKeys
    ? new IdentityAsserter({
        issuer: browserFacing.url,
        sign: rs256Signer(assertionKeys),
        maxEntries: settings.assertionCacheSize,
      })
    : undefined;
  admission.asserter = asserter;

  const bootAbort = new AbortController();
  const ready = bootstrap({
    issuer: settings.issuer,
    tokenServiceUrl: settings.tokenServiceUrl,
    keys,
    feed,
    retry: { minMs: settings.feedReconnectMinMs, maxMs: settings.feedReconnectMaxMs },
    logger,
    url,
    signal: bootAbort.signal,
    onDiscovered: (metadata) => {
      tokenClient.metadata = metadata;
    },
  });

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      bootAbort.abort();
      clearInterval(pruneTimer);
      routes.close();
      keys.close();
      relay.closeAll(1001, 'gateway shutting down');
      relay.close();
      await drainServer(server, settings.shutdownGraceMs);
      await feed.close();
      proxy.close();
      logger.info('gateway stopped');
    })());

  logger.info({ url, routes: routes.routes.map((r) => r.id), issuer: settings.issuer, publicUrl: browserFacing.url }, 'gateway listening');

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
    asserter,
    assertionKeys,
    readiness,
    whenReady: () => ready,
    close,
  };

  if (options.waitUntilReady !== false) {
    const timeoutMs = options.readyTimeoutMs ?? 30_000;
    if (!(await waitUntilReady({ ready, isReady, feed, timeoutMs, liveTimeoutMs: options.liveTimeoutMs ?? 5000, logger }))) {
      await close();
      throw new Error(
        `gateway not ready within ${timeoutMs} ms (token service at ${settings.issuer} unreachable or refusing the feed client)`,
      );
    }
  }
  return gateway;
}

/** Listens on `port` (0: any free one) and `host`; the URL to reach the server by. */
async function listen(server: http.Server, port: number, host: string): Promise<{ url: string; port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  const hostForUrl = host.includes(':') ? `[${host}]` : host;
  return { url: `http://${hostForUrl === '0.0.0.0' || hostForUrl === '[::]' ? '127.0.0.1' : hostForUrl}:${bound}`, port: bound };
}

// The gateway's own endpoints, answered before any route is looked at:
// /healthz (the process is up), /readyz (it can judge tokens: routes, keys and
// denylist loaded, revocation feed not stale), /metrics (Prometheus, behind
// METRICS_TOKEN when set) and, when it signs assertions, the public keys apps
// verify them with (/.well-known/gateway-jwks.json). GET and HEAD only.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { bearerSecretMatches } from '../common/secrets.ts';
import { GATEWAY_JWKS_PATH } from '../contract/gateway-assertion.ts';
import type { AssertionKeys } from './assertions/keys.ts';
import type { KeyStore } from './keys/key-store.ts';
import type { GatewayMetrics } from './metrics.ts';
import { reject, sendRejection } from './pipeline/rejection.ts';
import type { FeedState, FeedStatus, RevocationFeedClient } from './revocations/feed-client.ts';
import type { RouteTable } from './routes/route-table.ts';

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

export interface ReadinessSources {
  routes: Pick<RouteTable, 'routes'>;
  keys: Pick<KeyStore, 'loaded'>;
  feed: Pick<RevocationFeedClient, 'status'>;
  /** REVOCATION_MAX_STALENESS; undefined: a feed that is down never makes the gateway unready. */
  maxStalenessMs: number | undefined;
}

export function readinessOf({ routes, keys, feed, maxStalenessMs }: ReadinessSources): Readiness {
  const status = feed.status();
  const stale = maxStalenessMs !== undefined && status.stalenessMs > maxStalenessMs;
  const hasRoutes = routes.routes.length > 0;
  return {
    ready: hasRoutes && keys.loaded && status.synced && !stale,
    checks: { routes: hasRoutes, keys: keys.loaded, denylist: status.synced, feed: status.state, stale },
    feed: status,
  };
}

export type OwnEndpoint = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** The gateway's own endpoints by path (matched against the normalised request path). */
export function ownEndpoints(
  readiness: () => Readiness,
  metrics: GatewayMetrics,
  metricsToken: string | undefined,
  assertionJwks?: AssertionKeys['jwks'],
): Map<string, OwnEndpoint> {
  const endpoints = new Map<string, OwnEndpoint>([
    ['/healthz', getOrHead((_req, res) => sendJson(res, 200, { status: 'ok' }, NO_STORE))],
    [
      '/readyz',
      getOrHead((_req, res) => {
        const state = readiness();
        sendJson(
          res,
          state.ready ? 200 : 503,
          {
            status: state.ready ? 'ready' : 'not_ready',
            ...state.checks,
            cursor: state.feed.cursor,
            staleness_ms: Number.isFinite(state.feed.stalenessMs) ? state.feed.stalenessMs : null,
          },
          NO_STORE,
        );
      }),
    ],
    [
      '/metrics',
      getOrHead(async (req, res) => {
        if (metricsToken && !bearerSecretMatches(req.headers.authorization, metricsToken)) {
          return sendRejection(
            res,
            reject(401, 'unauthorized', 'metrics require METRICS_TOKEN', { 'www-authenticate': 'Bearer realm="metrics"' }),
          );
        }
        send(res, 200, metrics.registry.contentType, await metrics.registry.metrics());
      }),
    ],
  ]);
  if (assertionJwks) {
    // The set changes only with a restart; an app whose cached copy lacks a new kid refetches it.
    const body = JSON.stringify(assertionJwks);
    endpoints.set(
      GATEWAY_JWKS_PATH,
      getOrHead((_req, res) => send(res, 200, 'application/json; charset=utf-8', body, JWKS_CACHE)),
    );
  }
  return endpoints;
}

const JWKS_CACHE = { 'cache-control': 'public, max-age=300' };

const NO_STORE = { 'cache-control': 'no-store' };

function getOrHead(serve: OwnEndpoint): OwnEndpoint {
  return (req, res) => {
    if (req.method === 'GET' || req.method === 'HEAD') return serve(req, res);
    sendRejection(res, reject(405, 'method_not_allowed', 'method not allowed', { allow: 'GET, HEAD' }));
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(body), headers);
}

/** A whole response; for HEAD, Node leaves the body out and keeps its Content-Length. */
function send(res: ServerResponse, status: number, contentType: string, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...headers, 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

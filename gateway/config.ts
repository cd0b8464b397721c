// Gateway configuration: every variable validated at start (common/env.ts),
// durations in milliseconds. Tests build a config with `loadConfig({})` and
// override fields, e.g. `{ ...loadConfig({}), issuer: fake.url, routes: {...} }`.
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { duration } from '../common/duration.ts';
import { commaList, parseEnv, port } from '../common/env.ts';
import { byteSize } from '../common/size.ts';
import { HEADER_NAME } from './lib/header-names.ts';
import type { RoutesFileInput } from './routes/schema.ts';

const DEFAULT_ROUTES_PATH = fileURLToPath(new URL('./routes.json', import.meta.url));

const positiveInt = (defaultValue: number) => z.coerce.number().int().positive().default(defaultValue);
const optionalDuration = duration('0').transform((ms) => (ms > 0 ? ms : undefined));

const ENV_SHAPE = {
  GATEWAY_PORT: port(8080),
  GATEWAY_HOST: z.string().default('127.0.0.1'),
  TOKEN_ISSUER: z.url({ protocol: /^https?$/ }).default('http://localhost:4000'),
  /** Optional: how this gateway reaches the token service, when not at the issuer URL. */
  TOKEN_SERVICE_URL: z.url({ protocol: /^https?$/ }).optional(),
  GATEWAY_CLIENT_ID: z.string().min(1).default('gateway'),
  GATEWAY_CLIENT_SECRET: z.string().min(16).default('dev-gateway-secret-change-me-0123456789abcdef'),
  GATEWAY_ROUTES: z.string().default(DEFAULT_ROUTES_PATH),
  CLOCK_TOLERANCE: duration('30s'),
  /** Unset (or 0): never refuse requests because the revocation feed is down. */
  REVOCATION_MAX_STALENESS: optionalDuration,
  VERIFY_CACHE_SIZE: positiveInt(10_000),
  JWKS_REFETCH_COOLDOWN: duration('10s'),
  /** Idle keep-alive sockets to upstreams close before Node's default 5 s server keepAliveTimeout. */
  UPSTREAM_KEEPALIVE_IDLE: duration('4s'),
  /** Default time to wait for an upstream's response headers; a route may override it. */
  UPSTREAM_TIMEOUT: duration('30s'),
  FEED_IDLE_TIMEOUT: duration('45s'),
  FEED_RECONNECT_MIN: duration('250ms'),
  FEED_RECONNECT_MAX: duration('15s'),
  SHUTDOWN_GRACE: duration('10s'),
  /** A client must send its request headers within this (slow-header clients get 408). */
  HEADERS_TIMEOUT: duration('20s'),
  /**
   * Largest WebSocket message relayed, either way; a bigger one closes the socket with 1009.
   * At most 1 GiB: ws reads the limit as a 32-bit integer, and 0 would mean no limit.
   */
  WEBSOCKET_MAX_MESSAGE_SIZE: byteSize('1MiB', { min: 1, max: 2 ** 30 }),
  /**
   * While the gateway holds data for a WebSocket peer that reads none of it for this long, the
   * socket is closed (1013): the other side is not read meanwhile, so even its leaving would go unseen.
   */
  WEBSOCKET_STALL_TIMEOUT: duration('60s').refine((ms) => ms > 0, 'must be more than 0'),
  /** When set, GET /metrics needs `Authorization: Bearer <METRICS_TOKEN>`. */
  METRICS_TOKEN: z.string().min(16, 'at least 16 characters').optional(),
  /** More request headers to drop before forwarding (besides identity, forwarding and override headers). */
  GATEWAY_STRIP_HEADERS: commaList('').pipe(z.array(z.string().regex(HEADER_NAME, 'expected header names separated by commas'))),
};

export interface GatewayConfig {
  port: number;
  host: string;
  /** The token service's issuer identifier; RFC 8414 metadata is fetched from it. */
  issuer: string;
  /** Internal base URL of the token service (default: the issuer itself). */
  tokenServiceUrl?: string | undefined;
  /** Confidential client (scope revocations:read) used to read the revocation feed. */
  clientId: string;
  clientSecret: string;
  /** Path of a routes file (hot-reloaded) or an inline routes object (tests). */
  routes: string | RoutesFileInput;
  clockToleranceMs: number;
  revocationMaxStalenessMs: number | undefined;
  verifyCacheSize: number;
  jwksRefetchCooldownMs: number;
  upstreamKeepAliveIdleMs: number;
  upstreamTimeoutMs: number;
  feedIdleTimeoutMs: number;
  feedReconnectMinMs: number;
  feedReconnectMaxMs: number;
  shutdownGraceMs: number;
  /** Time allowed for a request's headers to arrive; default 20 s. */
  headersTimeoutMs?: number;
  /** Largest WebSocket message relayed in either direction (bytes); beyond it, 1009. */
  websocketMaxMessageBytes: number;
  /** A WebSocket direction backed up with nothing written out for this long closes the socket (1013). */
  websocketStallTimeoutMs: number;
  metricsToken?: string | undefined;
  /** Extra request header names to drop (GATEWAY_STRIP_HEADERS). */
  stripHeaders: string[];
}

export function loadConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  const parsed = parseEnv(ENV_SHAPE, env);
  return {
    port: parsed.GATEWAY_PORT,
    host: parsed.GATEWAY_HOST,
    issuer: parsed.TOKEN_ISSUER,
    tokenServiceUrl: parsed.TOKEN_SERVICE_URL,
    clientId: parsed.GATEWAY_CLIENT_ID,
    clientSecret: parsed.GATEWAY_CLIENT_SECRET,
    routes: parsed.GATEWAY_ROUTES,
    clockToleranceMs: parsed.CLOCK_TOLERANCE,
    revocationMaxStalenessMs: parsed.REVOCATION_MAX_STALENESS,
    verifyCacheSize: parsed.VERIFY_CACHE_SIZE,
    jwksRefetchCooldownMs: parsed.JWKS_REFETCH_COOLDOWN,
    upstreamKeepAliveIdleMs: parsed.UPSTREAM_KEEPALIVE_IDLE,
    upstreamTimeoutMs: parsed.UPSTREAM_TIMEOUT,
    feedIdleTimeoutMs: parsed.FEED_IDLE_TIMEOUT,
    feedReconnectMinMs: parsed.FEED_RECONNECT_MIN,
    feedReconnectMaxMs: parsed.FEED_RECONNECT_MAX,
    shutdownGraceMs: parsed.SHUTDOWN_GRACE,
    headersTimeoutMs: parsed.HEADERS_TIMEOUT,
    websocketMaxMessageBytes: parsed.WEBSOCKET_MAX_MESSAGE_SIZE,
    websocketStallTimeoutMs: parsed.WEBSOCKET_STALL_TIMEOUT,
    metricsToken: parsed.METRICS_TOKEN,
    stripHeaders: parsed.GATEWAY_STRIP_HEADERS,
  };
}

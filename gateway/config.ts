// Gateway configuration: every setting is declared once below (config field,
// environment variable, validation, default and documentation) and validated at
// start (common/env.ts); durations in milliseconds. The README tables are
// generated from these declarations (`npm run docs`). Tests build a config with
// `loadConfig({})` and override fields, e.g.
// `{ ...loadConfig({}), issuer: fake.url, routes: {...} }`.
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { DEVELOPMENT_GATEWAY_CLIENT_SECRET, isPlainHttpLoopback } from '../common/development.ts';
import { duration } from '../common/duration.ts';
import { booleanFlag, commaList, ConfigError, logLevel, metricsToken, parseEnv, port } from '../common/env.ts';
import { byteSize } from '../common/size.ts';
import { HEADER_NAME } from './lib/header-names.ts';
import type { RoutesFileInput } from './routes/schema.ts';

const DEFAULT_ROUTES_PATH = fileURLToPath(new URL('./routes.json', import.meta.url));

/** A 32-byte key as 64 hex digits or base64. */
const cookieKey = z.string().transform((value, ctx) => {
  const key = /^[0-9a-f]{64}$/i.test(value) ? Buffer.from(value, 'hex') : Buffer.from(value, 'base64');
  if (key.length !== 32) {
    ctx.addIssue({ code: 'custom', message: 'each key is 32 bytes as 64 hex digits or base64 (openssl rand -base64 32)' });
    return z.NEVER;
  }
  return key;
});

const positiveInt = (defaultValue: number) => z.coerce.number().int().positive().default(defaultValue);
const httpUrl = () => z.url({ protocol: /^https?$/ });

/** Pairs a config field with the variable that sets it. */
const setting = <Schema extends z.ZodType>(variable: string, schema: Schema) => ({ variable, schema });

const SETTINGS = {
  port: setting('GATEWAY_PORT', port(8080).describe('port to listen on')),
  host: setting('GATEWAY_HOST', z.string().default('127.0.0.1').describe('address to listen on (`0.0.0.0` in containers)')),
  /** The token service's issuer identifier; RFC 8414 metadata is fetched from it. */
  issuer: setting(
    'TOKEN_ISSUER',
    httpUrl()
      .default('http://localhost:4000')
      .describe('the issuer tokens must carry; its RFC 8414 metadata leads to the keys and the revocation feed'),
  ),
  tokenServiceUrl: setting(
    'TOKEN_SERVICE_URL',
    httpUrl().optional().meta({
      description: 'where this gateway reaches the token service, when not at the issuer URL (containers, several instances)',
      shownDefault: 'the issuer',
    }),
  ),
  clientId: setting(
    'GATEWAY_CLIENT_ID',
    z
      .string()
      .min(1)
      .default('gateway')
      .describe('client id of the gateway’s confidential client (scope `revocations:read`), which reads the revocation feed'),
  ),
  clientSecret: setting(
    'GATEWAY_CLIENT_SECRET',
    z.string().min(16).default(DEVELOPMENT_GATEWAY_CLIENT_SECRET).meta({
      description: 'its secret: the token service’s `GATEWAY_CLIENT_SECRET`',
      shownDefault: 'the development secret, which the token service registers for a plain-HTTP loopback issuer',
    }),
  ),
  /** Path of a routes file (hot-reloaded) or, in tests, an inline routes object. */
  routes: setting(
    'GATEWAY_ROUTES',
    z
      .string()
      .default(DEFAULT_ROUTES_PATH)
      .meta({ description: 'routes file; hot-reloaded on change (and on `SIGHUP`)', shownDefault: '`gateway/routes.json`' }),
  ),
  clockToleranceMs: setting(
    'CLOCK_TOLERANCE',
    duration('30s').describe('leeway for `exp`/`iat`; also how long revocation entries outlive their `expires_at`'),
  ),
  revocationMaxStalenessMs: setting(
    'REVOCATION_MAX_STALENESS',
    duration('0')
      .transform((ms) => (ms > 0 ? ms : undefined))
      .meta({
        description: 'refuse authenticated requests (503) while the revocation feed has been down longer than this; unset or `0`: never',
        shownDefault: 'unset',
      }),
  ),
  verifyCacheSize: setting('VERIFY_CACHE_SIZE', positiveInt(10_000).describe('verified tokens kept (never past their `exp`)')),
  jwksRefetchCooldownMs: setting(
    'JWKS_REFETCH_COOLDOWN',
    duration('10s').describe('least time between JWKS refetches caused by unknown `kid`s'),
  ),
  upstreamKeepAliveIdleMs: setting(
    'UPSTREAM_KEEPALIVE_IDLE',
    duration('4s').describe('idle keep-alive sockets to upstreams close after this, before the upstream closes them (Node’s default: 5 s)'),
  ),
  upstreamTimeoutMs: setting(
    'UPSTREAM_TIMEOUT',
    duration('30s').describe('time to an upstream’s response headers, else 504 (a route may override it)'),
  ),
  feedIdleTimeoutMs: setting('FEED_IDLE_TIMEOUT', duration('45s').describe('silence after which the revocation stream is considered dead')),
  feedReconnectMinMs: setting('FEED_RECONNECT_MIN', duration('250ms').describe('first delay before reconnecting to the revocation feed')),
  feedReconnectMaxMs: setting('FEED_RECONNECT_MAX', duration('15s').describe('longest delay between reconnections (the delay doubles)')),
  shutdownGraceMs: setting('SHUTDOWN_GRACE', duration('10s').describe('in-flight requests get this long on SIGTERM')),
  headersTimeoutMs: setting(
    'HEADERS_TIMEOUT',
    duration('20s').describe('a client must send its request headers within this, else 408 (and its socket is closed)'),
  ),
  websocketMaxMessageBytes: setting(
    'WEBSOCKET_MAX_MESSAGE_SIZE',
    // At most 1 GiB: ws reads the limit as a 32-bit integer, and 0 would mean no limit.
    byteSize('1MiB', { min: 1, max: 2 ** 30 }).describe(
      'largest WebSocket message relayed, either way; a bigger one closes the socket with 1009 (bytes, or `KiB`/`MiB`/`GiB`, at most `1GiB`)',
    ),
  ),
  websocketStallTimeoutMs: setting(
    'WEBSOCKET_STALL_TIMEOUT',
    // The other side is not read meanwhile, so even its leaving would go unseen.
    duration('60s')
      .refine((ms) => ms > 0, 'must be more than 0')
      .describe(
        'a WebSocket peer that reads none of the data the gateway holds for it for this long has its socket closed (1013 `peer not reading`)',
      ),
  ),
  metricsToken: setting(
    'METRICS_TOKEN',
    metricsToken.describe(`${metricsToken.description}; the gateway’s \`/metrics\` is on its public port`),
  ),
  stripHeaders: setting(
    'GATEWAY_STRIP_HEADERS',
    commaList('')
      .pipe(z.array(z.string().regex(HEADER_NAME, 'expected header names separated by commas')))
      .describe(
        'more request header names (comma-separated; lower-case, `_` read as `-`) to drop before forwarding, on top of the identity, forwarding and override headers always dropped',
      ),
  ),
  publicUrl: setting(
    'GATEWAY_PUBLIC_URL',
    httpUrl()
      .transform((url) => url.replace(/\/+$/, ''))
      .optional()
      .meta({
        description:
          'this gateway’s browser-facing URL (scheme, host, port): cookie sessions redirect to `<url>/.auth/callback`, and same-origin requests are those from it',
        shownDefault: '`http://localhost:<GATEWAY_PORT>`',
      }),
  ),
  sessionCookieKeys: setting(
    'SESSION_COOKIE_KEYS',
    commaList('')
      .pipe(z.array(cookieKey))
      .transform((keys) => (keys.length > 0 ? keys : undefined))
      .meta({
        description:
          'comma-separated 32-byte keys (`openssl rand -base64 32`) that encrypt cookie sessions (AES-256-GCM), newest first: the first encrypts, all decrypt, so a key rotates by adding a new one in front and removing the old one later',
        shownDefault: 'a public development key when `TOKEN_ISSUER` is a plain-HTTP loopback URL; else unset (no cookie sessions)',
      }),
  ),
  sessionCookieName: setting(
    'SESSION_COOKIE_NAME',
    z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and -')
      .optional()
      .meta({ description: 'the session cookie’s name', shownDefault: '`__Host-session` on HTTPS, `session` on plain HTTP' }),
  ),
  authPathPrefix: setting(
    'AUTH_PATH_PREFIX',
    z
      .string()
      .regex(/^\/[A-Za-z0-9._-]+$/, 'one path segment, such as /.auth')
      .default('/.auth')
      .describe('the paths the gateway answers itself for cookie sessions: `<prefix>/login`, `/callback`, `/logout`, `/session`'),
  ),
  signInScopes: setting(
    'SIGN_IN_SCOPES',
    z
      .string()
      .regex(/^openid( [\x21\x23-\x5B\x5D-\x7E]+)*$/, 'space-separated scopes starting with openid')
      .default('openid profile')
      .describe('the scopes a cookie session asks for (the gateway client’s allowed scopes bound them)'),
  ),
  sessionRefreshMarginMs: setting(
    'SESSION_REFRESH_MARGIN',
    duration('60s').describe(
      'a cookie session’s access token is renewed when it expires within this; keep it shorter than the tokens’ lifetime (a warning says when it is not)',
    ),
  ),
  cookieSessionMaxAgeMs: setting(
    'COOKIE_SESSION_MAX_AGE',
    duration('14d').describe('the longest a cookie session lasts without signing in again (the token service’s limits apply too)'),
  ),
  allowedOrigins: setting(
    'ALLOWED_ORIGINS',
    commaList('')
      .pipe(z.array(z.string().regex(/^https?:\/\/[^/\s?#@]+$/, 'expected origins such as https://app.example.com')))
      .describe(
        'other origins whose pages may send state-changing requests with a cookie session (CSRF); the gateway’s own origin always may',
      ),
  ),
  assertion: setting(
    'GATEWAY_ASSERTION',
    booleanFlag(true).describe(
      'send upstreams `X-Auth-Assertion`, a JWT of the caller’s identity signed with the gateway’s key (docs/WIRE-CONTRACT.md); `false` turns it off',
    ),
  ),
  assertionKey: setting(
    'GATEWAY_ASSERTION_KEY',
    z.string().min(1).optional().meta({
      description:
        'the RSA private key (PEM, 2048 bits or more; on one line, its line breaks may be written `\\n`) that signs assertions; unset with a plain-HTTP loopback `GATEWAY_PUBLIC_URL`: one is generated at start (development only)',
      shownDefault: '—',
    }),
  ),
  assertionKeyFile: setting(
    'GATEWAY_ASSERTION_KEY_FILE',
    z.string().min(1).optional().describe('path of a file holding that key, instead of `GATEWAY_ASSERTION_KEY`'),
  ),
  assertionPublishedKeysFile: setting(
    'GATEWAY_ASSERTION_PUBLISHED_KEYS_FILE',
    z
      .string()
      .min(1)
      .optional()
      .describe(
        'path of a PEM file of more RSA keys (public or private: only public halves are used) published next to the signer’s, to rotate keys (gateway/README.md)',
      ),
  ),
  assertionCacheSize: setting(
    'GATEWAY_ASSERTION_CACHE_SIZE',
    positiveInt(10_000).describe('signed assertions kept for reuse, one per access token and route (least recently used dropped first)'),
  ),
  logLevel: setting('LOG_LEVEL', logLevel),
};

type Settings = typeof SETTINGS;

export type GatewayConfig = { [Field in Exclude<keyof Settings, 'routes'>]: z.output<Settings[Field]['schema']> } & {
  routes: string | RoutesFileInput;
};

/** The gateway's variables and their schemas, as the environment spells them. */
export const gatewayEnv: Record<string, z.ZodType> = Object.fromEntries(
  Object.values(SETTINGS).map(({ variable, schema }) => [variable, schema]),
);

export function loadConfig(env: Record<string, string | undefined> = process.env): GatewayConfig {
  const parsed = parseEnv(gatewayEnv, env) as Record<string, unknown>;
  const config = Object.fromEntries(Object.entries(SETTINGS).map(([field, { variable }]) => [field, parsed[variable]])) as GatewayConfig;
  const problems = assertionKeyProblems(config);
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/**
 * What is wrong with the assertion's key settings. A key is generated at start only for
 * development, i.e. a plain-HTTP loopback issuer (the default): a generated key differs
 * per process and per restart, which apps behind several gateways could not follow.
 */
export function assertionKeyProblems(
  config: Pick<GatewayConfig, 'assertion' | 'publicUrl' | 'assertionKey' | 'assertionKeyFile'>,
): string[] {
  if (!config.assertion) return [];
  if (config.assertionKey !== undefined && config.assertionKeyFile !== undefined) {
    return ['GATEWAY_ASSERTION_KEY, GATEWAY_ASSERTION_KEY_FILE: set one of them, not both'];
  }
  const development = config.publicUrl === undefined || isPlainHttpLoopback(config.publicUrl);
  if (config.assertionKey === undefined && config.assertionKeyFile === undefined && !development) {
    return [
      'GATEWAY_ASSERTION_KEY: required (or GATEWAY_ASSERTION_KEY_FILE) when GATEWAY_PUBLIC_URL is not a plain-HTTP loopback URL; or set GATEWAY_ASSERTION=false',
    ];
  }
  return [];
}

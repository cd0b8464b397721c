// Token-service settings, read from the environment and validated at start-up.
// Each is declared once, with its documentation: the README table is generated
// from these (`npm run docs`).
import { z } from 'zod';
import { duration } from '../../common/duration.ts';
import { MIN_CLIENT_SECRET_LENGTH } from './helpers/secrets.ts';
import { booleanFlag, commaList, ConfigError, logLevel, metricsToken, parseEnv, port } from '../../common/env.ts';

const keyEncryptionKey = z
  .string()
  .optional()
  .transform((value, ctx) => {
    if (value === undefined) return undefined;
    const key = /^[0-9a-f]{64}$/i.test(value) ? Buffer.from(value, 'hex') : Buffer.from(value, 'base64');
    if (key.length !== 32) {
      ctx.addIssue({ code: 'custom', message: 'expected 32 bytes as 64 hex digits or base64 (openssl rand -base64 32)' });
      return z.NEVER;
    }
    return key;
  });

const gatewayClientSecret = z
  .string()
  .min(MIN_CLIENT_SECRET_LENGTH, `at least ${MIN_CLIENT_SECRET_LENGTH} characters (openssl rand -hex 32)`)
  .optional()
  .meta({
    description:
      'secret of the gateway’s confidential client (`GATEWAY_CLIENT_ID`, scope `revocations:read`), registered at start: the one the gateway presents',
    shownDefault: 'the gateway’s development secret when `ISSUER` is a plain-HTTP loopback URL; else unset (no gateway client)',
  });

export const tokenServiceEnv = {
  TOKEN_HOST: z.string().default('127.0.0.1').describe('address to listen on (`0.0.0.0` in containers)'),
  TOKEN_PORT: port(4000).describe('port to listen on'),
  ISSUER: z
    .url({ protocol: /^https?$/ })
    .optional()
    .meta({ description: 'the `iss` of every token and the base of the metadata URLs', shownDefault: '`http://localhost:<TOKEN_PORT>`' }),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL')
    .optional()
    .describe('`postgres://…`; when unset, the embedded PGlite database is used'),
  DATA_DIR: z.string().default('./data').describe('directory of the embedded database (one process at a time)'),
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10).describe('PostgreSQL connection pool size'),
  DATABASE_STALL_TIMEOUT: duration('15s').describe(
    'a pooled PostgreSQL connection silent this long is dropped, so a network partition answers 503 instead of hanging',
  ),
  ACCESS_TOKEN_TTL: duration('300').describe('access-token lifetime'),
  REFRESH_TOKEN_IDLE_TTL: duration('14d').describe('refresh-token (idle) lifetime, renewed at each refresh'),
  SESSION_MAX_AGE: duration('30d').describe('absolute session lifetime'),
  REFRESH_REUSE_GRACE: duration('10s').describe(
    'grace window: reuse of a just-rotated refresh token (the parent of its family’s live one) neither revokes nor mints',
  ),
  SESSIONS_PER_USER_MAX: z.coerce
    .number()
    .int()
    .min(1)
    .max(10_000)
    .default(100)
    .describe('live sessions per user; a login beyond it revokes the least recently used one'),
  KEY_ENCRYPTION_KEY: keyEncryptionKey.describe('32 bytes, hex or base64 (`openssl rand -base64 32`): encrypts private keys at rest'),
  JWKS_MAX_AGE: duration('5m').describe('`Cache-Control: max-age` of the JWKS'),
  CLIENTS_FILE: z.string().optional().describe('JSON list of clients to create or update at start (see Clients)'),
  GATEWAY_CLIENT_ID: z
    .string()
    .min(1)
    .default('gateway')
    .describe('client id of the gateway’s confidential client, registered at start with `GATEWAY_CLIENT_SECRET`'),
  GATEWAY_CLIENT_SECRET: gatewayClientSecret,
  GATEWAY_PUBLIC_URL: z
    .url({ protocol: /^https?$/ })
    .transform((url) => url.replace(/\/+$/, ''))
    .optional()
    .meta({
      description:
        'the gateway’s browser-facing URL: its client may sign browsers in, redirecting to `<url>/.auth/callback` (cookie sessions)',
      shownDefault:
        '`http://localhost:8080` when `ISSUER` is a plain-HTTP loopback URL; else unset (the gateway client only reads the feed)',
    }),
  SIGNIN_SESSION_TTL: duration('12h').describe(
    'how long a sign-in at the login page lasts (single sign-on): other apps sign in without the password until then',
  ),
  REGISTRATION_PAGE_URL: z
    .url({ protocol: /^https?$/ })
    .optional()
    .describe('where the login page’s “Create an account” link points (an app’s sign-up page); no link when unset'),
  AUTHORIZATION_CODE_TTL: duration('60s')
    .pipe(z.number().min(1000, 'at least 1s').max(60_000, 'at most 60s (codes are short-lived)'))
    .describe('authorization-code lifetime'),
  PASSWORD_HASH_COST: z.coerce
    .number()
    .int()
    .min(10)
    .max(20)
    .default(17)
    .describe('log2 of scrypt’s N (OWASP: N=2^17, r=8, p=1; about 128 MiB of memory per hash)'),
  PASSWORD_HASH_PENDING_MAX: z.coerce
    .number()
    .int()
    .min(1)
    .max(10_000)
    .default(32)
    .describe(
      'password hashes waiting or running at once in one instance (logins and registrations); beyond it 503 with `Retry-After` at once',
    ),
  PASSWORD_HASH_PENDING_PER_ADDRESS: z.coerce
    .number()
    .int()
    .min(1)
    .max(10_000)
    .default(4)
    .describe(
      'the same for one client address or known device (at most `PASSWORD_HASH_PENDING_MAX`); beyond it 429 with `Retry-After` at once',
    ),
  WEB_CLIENT_SCOPES: commaList('openid profile notes:read notes:write').describe('scopes the first-party client `web` may grant'),
  WEB_CLIENT_AUDIENCES: commaList('whoami notes').describe('audiences of `web` tokens besides the issuer'),
  TRUST_PROXY: booleanFlag(false).describe('trust `X-Forwarded-For` for client addresses (set when behind the gateway or a proxy)'),
  CORS_ORIGINS: commaList('')
    .pipe(
      z.array(
        z
          .string()
          .transform((origin) => origin.replace(/\/+$/, '').toLowerCase())
          .pipe(
            z.string().regex(/^https?:\/\/[^/\s?#@]+$/, 'expected origins such as https://app.example.com (scheme://host[:port], no path)'),
          ),
      ),
    )
    .describe('comma-separated browser origins allowed to call `/oauth/token`, `/oauth/revoke` and `/auth/*` (CORS)'),
  LOGIN_THROTTLE_ACCOUNT_FREE: z.coerce
    .number()
    .int()
    .min(1)
    .default(5)
    .describe('failed logins per account before delays start (1 s, doubling); attempts count from the moment they are admitted'),
  LOGIN_THROTTLE_IP_FREE: z.coerce
    .number()
    .int()
    .min(1)
    .default(20)
    .describe(
      'failed logins per client address before its failures are answered 429 (it is never refused a correct password); also registrations per address that created nothing, before registrations from it wait',
    ),
  LOGIN_THROTTLE_DEVICE_FREE: z.coerce
    .number()
    .int()
    .min(1)
    .default(5)
    .describe('wrong passwords a known device (device cookie) may send, even during an account lock, before it is forgotten'),
  LOGIN_DEVICE_TTL: duration('90d')
    .pipe(z.number().min(60_000, 'at least 1m'))
    .describe('a device cookie unused this long is forgotten (its `Max-Age`)'),
  LOGIN_THROTTLE_MAX_DELAY: duration('15m').describe('longest login delay'),
  LOGIN_THROTTLE_WINDOW: duration('15m').describe('throttling counters are forgotten after this long without failures'),
  BACKCHANNEL_LOGOUT_TIMEOUT: duration('5s')
    .pipe(z.number().min(100, 'at least 100ms').max(60_000, 'at most 60s'))
    .describe('how long a client’s `backchannel_logout_uri` has to answer one logout token (OIDC Back-Channel Logout)'),
  BACKCHANNEL_LOGOUT_MAX_ATTEMPTS: z.coerce
    .number()
    .int()
    .min(1)
    .max(100)
    .default(10)
    .describe('attempts to deliver one logout token before it is abandoned (with a warning)'),
  BACKCHANNEL_LOGOUT_RETRY_MIN: duration('1s').describe(
    'wait before the second attempt of a logout token; it doubles with each failure (with jitter), up to `BACKCHANNEL_LOGOUT_RETRY_MAX`',
  ),
  BACKCHANNEL_LOGOUT_RETRY_MAX: duration('15m').describe('longest wait between two attempts of a logout token'),
  CLEANUP_INTERVAL: duration('10m').describe(
    'how often each instance purges expired rows (`0` disables the background cleanup; `authctl purge` does it by hand)',
  ),
  AUDIT_RETENTION: duration('90d').describe('audit events older than this are purged'),
  METRICS_TOKEN: metricsToken,
  LOG_LEVEL: logLevel,
};

export type TokenServiceConfig = ReturnType<typeof loadTokenServiceConfig>;

export function loadTokenServiceConfig(env: Record<string, string | undefined> = process.env) {
  const parsed = parseEnv(tokenServiceEnv, env);
  if (parsed.PASSWORD_HASH_PENDING_PER_ADDRESS > parsed.PASSWORD_HASH_PENDING_MAX) {
    throw new ConfigError([`PASSWORD_HASH_PENDING_PER_ADDRESS: at most PASSWORD_HASH_PENDING_MAX (${parsed.PASSWORD_HASH_PENDING_MAX})`]);
  }
  const issuer = parsed.ISSUER ?? `http://localhost:${parsed.TOKEN_PORT}`;
  return { ...parsed, ISSUER: issuer.replace(/\/+$/, '') };
}

/** The hashing bounds of a configuration (helpers/passwords.ts). */
export const hashLimits = (config: Pick<TokenServiceConfig, 'PASSWORD_HASH_PENDING_MAX' | 'PASSWORD_HASH_PENDING_PER_ADDRESS'>) => ({
  pendingMax: config.PASSWORD_HASH_PENDING_MAX,
  pendingPerSource: config.PASSWORD_HASH_PENDING_PER_ADDRESS,
});

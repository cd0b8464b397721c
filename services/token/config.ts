// Token-service settings, read from the environment and validated at start-up.
import { z } from 'zod';
import { duration } from '../../common/duration.ts';
import { booleanFlag, commaList, ConfigError, parseEnv, port } from '../../common/env.ts';

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

export const tokenServiceEnv = {
  TOKEN_HOST: z.string().default('127.0.0.1'),
  TOKEN_PORT: port(4000),
  ISSUER: z.url({ protocol: /^https?$/ }).default('http://localhost:4000'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL')
    .optional(),
  DATA_DIR: z.string().default('./data'),
  DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),
  /** A pooled PostgreSQL connection silent this long is dropped (a partition must not hang requests). */
  DATABASE_STALL_TIMEOUT: duration('15s'),
  ACCESS_TOKEN_TTL: duration('300'),
  REFRESH_TOKEN_IDLE_TTL: duration('14d'),
  SESSION_MAX_AGE: duration('30d'),
  REFRESH_REUSE_GRACE: duration('10s'),
  /** Live sessions per user; a login beyond it revokes the least recently used one. */
  SESSIONS_PER_USER_MAX: z.coerce.number().int().min(1).max(10_000).default(100),
  KEY_ENCRYPTION_KEY: keyEncryptionKey,
  JWKS_MAX_AGE: duration('5m'),
  CLIENTS_FILE: z.string().optional(),
  /** log2 of scrypt's N; 17 is OWASP's recommendation (N=2^17, r=8, p=1). */
  PASSWORD_HASH_COST: z.coerce.number().int().min(10).max(20).default(17),
  /** Password hashes waiting or running at once in this process; beyond it 503 at once. */
  PASSWORD_HASH_PENDING_MAX: z.coerce.number().int().min(1).max(10_000).default(32),
  /** The same for one client address (or one known device); beyond it 429 at once. */
  PASSWORD_HASH_PENDING_PER_ADDRESS: z.coerce.number().int().min(1).max(10_000).default(4),
  WEB_CLIENT_SCOPES: commaList('openid profile notes:read notes:write'),
  WEB_CLIENT_AUDIENCES: commaList('whoami notes'),
  TRUST_PROXY: booleanFlag(false),
  /** Browser origins allowed to call /oauth/token, /oauth/revoke and /auth/* (CORS); none by default. */
  CORS_ORIGINS: commaList('').pipe(
    z.array(
      z
        .string()
        .transform((origin) => origin.replace(/\/+$/, '').toLowerCase())
        .pipe(
          z.string().regex(/^https?:\/\/[^/\s?#@]+$/, 'expected origins such as https://app.example.com (scheme://host[:port], no path)'),
        ),
    ),
  ),
  /** Failed logins allowed per account name, then delays double from 1 s. */
  LOGIN_THROTTLE_ACCOUNT_FREE: z.coerce.number().int().min(1).default(5),
  /** Failed logins allowed per client address, then delays double from 1 s. */
  LOGIN_THROTTLE_IP_FREE: z.coerce.number().int().min(1).default(20),
  /** Wrong passwords a known device (device cookie) may send before it no longer vouches. */
  LOGIN_THROTTLE_DEVICE_FREE: z.coerce.number().int().min(1).default(5),
  /** A device cookie unused this long is forgotten. */
  LOGIN_DEVICE_TTL: duration('90d').pipe(z.number().min(60_000, 'at least 1m')),
  LOGIN_THROTTLE_MAX_DELAY: duration('15m'),
  /** A counter is forgotten after this long without failures. */
  LOGIN_THROTTLE_WINDOW: duration('15m'),
  /** How often each instance purges expired rows; 0 disables the background cleanup. */
  CLEANUP_INTERVAL: duration('10m'),
  AUDIT_RETENTION: duration('90d'),
  /** When set, GET /metrics requires `Authorization: Bearer <METRICS_TOKEN>`. */
  METRICS_TOKEN: z.string().min(16, 'at least 16 characters').optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
};

export type TokenServiceConfig = ReturnType<typeof loadTokenServiceConfig>;

export function loadTokenServiceConfig(env: Record<string, string | undefined> = process.env) {
  const parsed = parseEnv(tokenServiceEnv, env);
  if (parsed.PASSWORD_HASH_PENDING_PER_ADDRESS > parsed.PASSWORD_HASH_PENDING_MAX) {
    throw new ConfigError([`PASSWORD_HASH_PENDING_PER_ADDRESS: at most PASSWORD_HASH_PENDING_MAX (${parsed.PASSWORD_HASH_PENDING_MAX})`]);
  }
  return { ...parsed, ISSUER: parsed.ISSUER.replace(/\/+$/, '') };
}

/** The hashing bounds of a configuration (helpers/passwords.ts). */
export const hashLimits = (config: Pick<TokenServiceConfig, 'PASSWORD_HASH_PENDING_MAX' | 'PASSWORD_HASH_PENDING_PER_ADDRESS'>) => ({
  pendingMax: config.PASSWORD_HASH_PENDING_MAX,
  pendingPerSource: config.PASSWORD_HASH_PENDING_PER_ADDRESS,
});

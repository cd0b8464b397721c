// Parent-side helpers: start the pieces of a benchmark, each in its own child
// process (see children.ts), and the one-off HTTP calls a scenario needs.
import type { JWK } from 'jose';
import type { GatewayConfig } from '../../gateway/config.ts';
import type { RoutesFileInput } from '../../gateway/routes/schema.ts';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '../../test/support/databases.ts';
import { TestBrowser } from '../../test/support/browser.ts';
import { login, newUser, request, type TokenPair } from '../../test/support/http.ts';
import { GATEWAY_CLIENT } from '../../test/support/token-service.ts';
import { Host } from './children.ts';
import type { LoadResult, LoadSpec } from './load.ts';
import type { ProfileSummary } from './profile.ts';

/** Tokens carry this issuer; gateways reach the service at its real URL (TOKEN_SERVICE_URL). */
export const BENCH_ISSUER = 'http://auth.bench.test';

/** Production settings except where a benchmark needs otherwise: scrypt at the real cost (17, OWASP). */
export const TOKEN_ENV: Record<string, string> = {
  ISSUER: BENCH_ISSUER,
  PASSWORD_HASH_COST: '17',
  // Long enough that no token of a run expires mid-run.
  ACCESS_TOKEN_TTL: '1h',
};

export interface HostStats {
  /** CPU time (user + system) used so far, µs. */
  cpuUs: number;
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  loopDelay: { count: number; mean: number; p50: number; p99: number; max: number };
  denylist?: { sessions: number; tokens: number; users: number };
  /** Gateway: signature verifications and verification-cache hits so far. */
  verifier?: { verifications: number; cacheHits: number };
  /** Garbage collections so far: count and main-thread pause, young (minor) and old (major) generation. */
  gc: { minor: number; minorMs: number; major: number; majorMs: number };
}

export const MB = 2 ** 20;

export interface RunningTokenService {
  host: Host;
  url: string;
  kind: 'postgres' | 'pglite';
  stop(): Promise<void>;
}

/** The databases to measure on: PGlite always, PostgreSQL when TEST_DATABASE_URL is set. */
export function databaseKinds(): Array<'pglite' | 'postgres'> {
  return testDatabaseUrl() ? ['pglite', 'postgres'] : ['pglite'];
}

/** The database a single-database scenario uses: PostgreSQL when available. */
export function preferredKind(): 'pglite' | 'postgres' {
  return testDatabaseUrl() ? 'postgres' : 'pglite';
}

export async function startTokenService(kind: 'pglite' | 'postgres', env: Record<string, string> = {}): Promise<RunningTokenService> {
  let database: TestDatabase | undefined;
  if (kind === 'postgres') database = await createTestDatabase();
  const host = await Host.start({ name: `token-service (${kind})` });
  try {
    const started = await host.call<{ url: string; kind: 'postgres' | 'pglite' }>('startTokenService', {
      env: { ...TOKEN_ENV, ...env },
      ...(database ? { database: { env: database.env, kind: database.kind } } : {}),
    });
    return {
      host,
      url: started.url,
      kind: started.kind,
      async stop() {
        await host.stop();
        await database?.drop();
      },
    };
  } catch (error) {
    await host.stop();
    await database?.drop();
    throw error;
  }
}

export interface RunningGateway {
  host: Host;
  url: string;
  readyMs: number;
}

/** Routes for the benchmarks: one authenticated route (bearer token or cookie session) and one public route to the same upstream. */
export function benchRoutes(upstream: string): RoutesFileInput {
  return {
    routes: [
      { id: 'private', prefix: '/private', upstream, auth: 'required', audience: 'whoami', credentials: ['bearer', 'cookie'] },
      { id: 'public', prefix: '/public', upstream, auth: 'none', forward_authorization: false },
    ],
  } as RoutesFileInput;
}

export async function startGatewayProcess(
  tokenServiceUrl: string,
  upstream: string,
  options: {
    logLevel?: string;
    readyTimeoutMs?: number;
    nodeArgs?: string[];
    config?: Partial<GatewayConfig>;
    compiled?: boolean;
    /** SESSION_COOKIE_KEYS (base64): cookie sessions on (Buffers do not cross IPC, hence strings). */
    cookieKeys?: string[];
  } = {},
): Promise<RunningGateway> {
  const host = await Host.start({
    name: options.compiled ? 'gateway (dist)' : 'gateway',
    ...(options.nodeArgs ? { nodeArgs: options.nodeArgs } : {}),
  });
  try {
    const started = await host.call<{ url: string; readyMs: number }>('startGateway', {
      config: {
        issuer: BENCH_ISSUER,
        tokenServiceUrl,
        clientId: GATEWAY_CLIENT.id,
        clientSecret: GATEWAY_CLIENT.secret,
        routes: benchRoutes(upstream),
        ...options.config,
      },
      logLevel: options.logLevel ?? 'info',
      readyTimeoutMs: options.readyTimeoutMs ?? 60_000,
      compiled: options.compiled ?? false,
      cookieKeys: options.cookieKeys,
    });
    return { host, url: started.url, readyMs: started.readyMs };
  } catch (error) {
    await host.stop();
    throw error;
  }
}

export async function startUpstream(): Promise<{ host: Host; url: string }> {
  const host = await Host.start({ name: 'upstream' });
  const { url } = await host.call<{ url: string }>('startUpstream');
  return { host, url };
}

export async function startBareProxy(target: string): Promise<{ host: Host; url: string }> {
  const host = await Host.start({ name: 'bare proxy' });
  const { url } = await host.call<{ url: string }>('startBareProxy', { target });
  return { host, url };
}

/** One of the reference proxies of bench/lib/host.ts, in a process of its own. */
export async function startReferenceProxy(
  kind: 'startNaiveProxy' | 'startUndiciPassThrough' | 'startFastifyGateway',
  args: { target: string; jwk?: JWK; issuer?: string; audience?: string },
): Promise<{ host: Host; url: string }> {
  const host = await Host.start({ name: kind.replace(/^start/, '') });
  const { url } = await host.call<{ url: string }>(kind, args);
  return { host, url };
}

/** The token service's current public signing key, as the reference proxies need it. */
export async function signingJwk(tokenUrl: string): Promise<JWK> {
  const jwks = await request<{ keys: JWK[] }>(tokenUrl, 'GET', '/.well-known/jwks.json');
  const [key] = jwks.body.keys;
  if (!key) throw new Error('the token service published no key');
  return key;
}

export async function startLoadGenerator(name = 'load generator'): Promise<Host> {
  return Host.start({ name });
}

export const runLoad = (generator: Host, spec: LoadSpec): Promise<LoadResult> => generator.call<LoadResult>('runLoad', spec);
export const statsOf = (host: Host, gc = false): Promise<HostStats> => host.call<HostStats>('stats', { gc });
export const profileOf = (host: Host, label: string, top = 15): Promise<ProfileSummary> =>
  host.call<ProfileSummary>('stopProfile', { label, top });

/** A registered user (scrypt at the service's cost). */
export async function registeredUser(tokenUrl: string, prefix = 'bench'): Promise<{ userId: string; username: string; password: string }> {
  const user = newUser(prefix);
  const registered = await request<{ id: string }>(tokenUrl, 'POST', '/auth/register', { json: user });
  if (registered.status !== 201) throw new Error(`register failed: ${registered.status} ${registered.text}`);
  return { userId: registered.body.id, username: user.username, password: user.password };
}

/** A registered user with one real login (scrypt at the service's cost). */
export async function userWithLogin(tokenUrl: string): Promise<{ userId: string; username: string; password: string; tokens: TokenPair }> {
  const user = await registeredUser(tokenUrl);
  return { ...user, tokens: await login(tokenUrl, user.username, user.password) };
}

/**
 * Signs `user` in at a gateway as a browser does (/.auth/login → the token service's login form →
 * /.auth/callback) and returns the session cookie's value. `issuer` → `tokenUrl` maps the issuer's
 * public URL (where the browser is sent) onto where the token service listens.
 */
export async function cookieSignIn(
  gatewayUrl: string,
  authority: { issuer: string; tokenUrl: string },
  user: { username: string; password: string },
  cookieName = 'session',
): Promise<string> {
  const browser = new TestBrowser();
  const reachable = (url: string | undefined) =>
    url?.startsWith(`${authority.issuer}/`) ? authority.tokenUrl + url.slice(authority.issuer.length) : url;
  let page = await browser.fetch(`${gatewayUrl}/.auth/login?return_to=%2F`);
  for (let hops = 0; hops < 10 && !browser.cookies(gatewayUrl).has(cookieName); hops += 1) {
    if (page.location) page = await browser.fetch(reachable(page.location) as string);
    else if (page.status === 200 && page.html.includes('name="password"'))
      page = await browser.submit(page, { username: user.username, password: user.password });
    else throw new Error(`cookie sign-in stopped at ${page.url}: ${page.status} ${page.html.slice(0, 200)}`);
  }
  const cookie = browser.cookies(gatewayUrl).get(cookieName);
  if (!cookie) throw new Error('cookie sign-in: no session cookie after 10 hops');
  return cookie;
}

/** "12,345 (2 × 500)" style: the statuses that were not the expected one, for the table. */
export function failures(result: LoadResult, okStatus = 200): string {
  const other = Object.entries(result.statuses).filter(([status]) => Number(status) !== okStatus);
  const parts = other.map(([status, n]) => `${n}×${status}`);
  if (result.errors) parts.push(`${result.errors} errors`);
  if (result.timeouts) parts.push(`${result.timeouts} timeouts`);
  return parts.join(', ') || '0';
}

export const seconds = (quick: number, full: number, quickMode: boolean): number => (quickMode ? quick : full);

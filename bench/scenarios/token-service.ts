// Scenario 2: the token service's grants, on PGlite and (when TEST_DATABASE_URL
// is set) PostgreSQL:
//   - refresh with rotation: every request consumes its own pre-issued refresh
//     token (a fresh session each, seeded in bulk) and gets its child;
//   - login (password grant through /auth/login) at the real scrypt cost,
//     PASSWORD_HASH_COST=17 (N=2^17, r=8, p=1: OWASP), not the tests' 12;
//   - client_credentials (confidential client, HTTP Basic).
// The ceiling: this machine's raw RS256 signing rate with a 2048-bit key, on
// one core (node:crypto, synchronous) and on all cores (jose, which signs with
// WebCrypto on libuv's thread pool, as the token service does). Refresh/s is
// reported as a fraction of both.
//
// The token service runs in its own process; the load generator in another.
import crypto from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import * as jose from 'jose';
import { DEMO_SERVICE_CLIENT } from '../../test/support/token-service.ts';
import { basic } from '../../test/support/http.ts';
import type { Host } from '../lib/children.ts';
import { stopAll } from '../lib/children.ts';
import type { LoadResult, LoadSpec } from '../lib/load.ts';
import { printProfile, type ProfileSummary } from '../lib/profile.ts';
import { printTable, quickMode, type Cell } from '../lib/stats.ts';
import {
  databaseKinds,
  failures,
  preferredKind,
  profileOf,
  runLoad,
  startLoadGenerator,
  startTokenService,
  statsOf,
  userWithLogin,
  type RunningTokenService,
} from '../lib/services.ts';

export interface SignCeiling {
  /** Signatures per second on one core, node:crypto (synchronous). */
  oneCore: number;
  /** Signatures per second with jose (WebCrypto on the thread pool), enough in flight to use every core. */
  allCores: number;
}

/** RS256 over a payload shaped like our access tokens, with a 2048-bit key. */
export async function measureSignCeiling(seconds: number): Promise<SignCeiling> {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const claims = {
    iss: 'http://auth.bench.test',
    sub: crypto.randomUUID(),
    aud: ['http://auth.bench.test', 'whoami', 'notes'],
    client_id: 'web',
    scope: 'openid profile notes:read notes:write',
    iat: 1_800_000_000,
    exp: 1_800_000_300,
    jti: crypto.randomUUID(),
    sid: crypto.randomUUID(),
  };
  const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'at+jwt', kid: 'k' })).toString('base64url');
  const input = Buffer.from(`${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`);
  let count = 0;
  let end = performance.now() + seconds * 1000;
  const syncStarted = performance.now();
  while (performance.now() < end) {
    crypto.sign('sha256', input, privateKey);
    count += 1;
  }
  const oneCore = count / ((performance.now() - syncStarted) / 1000);

  const key = await jose.importPKCS8(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 'RS256');
  const inFlight = Math.max(4, os.cpus().length * 4);
  count = 0;
  const joseStarted = performance.now();
  end = joseStarted + seconds * 1000;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < end) {
        await new jose.SignJWT({ ...claims }).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: 'k' }).sign(key);
        count += 1;
      }
    }),
  );
  const allCores = count / ((performance.now() - joseStarted) / 1000);
  return { oneCore, allCores };
}

/** Form bodies of refresh requests, one per pre-issued token. */
export async function refreshBodies(token: RunningTokenService, userId: string, count: number): Promise<string[]> {
  const tokens = await token.host.call<string[]>('seedRefreshTokens', { userId, count });
  return tokens.map((refreshToken) =>
    new URLSearchParams({ grant_type: 'refresh_token', client_id: 'web', refresh_token: refreshToken }).toString(),
  );
}

export const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

export interface Measured {
  load: LoadResult;
  /** CPU of the token-service process per successful request, ms. */
  cpuPerRequestMs: number;
  /** CPU of every PostgreSQL process per successful request, ms (undefined on PGlite, which runs inside the service). */
  postgresCpuPerRequestMs: number | undefined;
  /** SQL statements, each one round trip, per successful request. */
  statementsPerRequest: number;
}

/** A load run and what each successful request cost: CPU of the service and of PostgreSQL, and SQL round trips. */
export async function measured(generator: Host, service: Host, spec: LoadSpec, kind?: string): Promise<Measured> {
  const before = await statsOf(service);
  const statementsBefore = await service.call<number>('sqlStatements');
  const postgresBefore = kind === 'postgres' ? postgresCpuUs() : new Map<string, number>();
  const load = await runLoad(generator, spec);
  const postgresAfter = kind === 'postgres' ? postgresCpuUs() : new Map<string, number>();
  const statementsAfter = await service.call<number>('sqlStatements');
  const after = await statsOf(service);
  const ok = Math.max(1, load.ok);
  return {
    load,
    cpuPerRequestMs: (after.cpuUs - before.cpuUs) / 1000 / ok,
    postgresCpuPerRequestMs: kind === 'postgres' ? postgresCpuBetween(postgresBefore, postgresAfter) / 1000 / ok : undefined,
    statementsPerRequest: (statementsAfter - statementsBefore) / ok,
  };
}

/** User and system CPU of each process named postgres on this machine, µs by pid (/proc; clock ticks of 10 ms). */
function postgresCpuUs(): Map<string, number> {
  const byPid = new Map<string, number>();
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      const close = stat.lastIndexOf(')');
      if (stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') continue;
      const fields = stat.slice(close + 2).split(' ');
      byPid.set(pid, (Number(fields[11]) + Number(fields[12])) * 10_000); // utime, stime (fields 14 and 15 of stat)
    } catch {
      // the process ended meanwhile
    }
  }
  return byPid;
}

/**
 * CPU PostgreSQL spent between two readings: per process, so that a backend that
 * ends meanwhile (a pooled connection closing) does not take its earlier time with
 * it; one that starts counts from zero. A backend that ends is undercounted.
 */
function postgresCpuBetween(before: Map<string, number>, after: Map<string, number>): number {
  let total = 0;
  for (const [pid, cpu] of after) total += Math.max(0, cpu - (before.get(pid) ?? 0));
  return total;
}

export async function tokenServiceBench(): Promise<void> {
  const quick = quickMode();
  const durationSec = quick ? 1 : 10;
  const loginSec = quick ? 2 : 15;
  const connections = 10;

  const ceiling = await measureSignCeiling(quick ? 0.5 : 2);
  printTable(
    'RS256 signing ceiling (2048-bit key, this machine)',
    ['how', 'signatures/s'],
    [
      ['node:crypto sign, synchronous, 1 core', ceiling.oneCore],
      [`jose SignJWT (WebCrypto, thread pool), ${os.cpus().length} cores`, ceiling.allCores],
    ],
  );

  const rows: Cell[][] = [];
  const ratios: Cell[][] = [];
  const profiles: Array<[string, ProfileSummary]> = [];
  for (const kind of databaseKinds()) {
    const hosts: Host[] = [];
    let token: RunningTokenService | undefined;
    try {
      const tokenStarting = startTokenService(kind);
      const generator = await startLoadGenerator();
      hosts.push(generator);
      token = await tokenStarting;
      const user = await userWithLogin(token.url);
      const tokenEndpoint = `${token.url}/oauth/token`;

      // Enough tokens for the fastest refresh rate possible (the all-core signing rate).
      const warmupSec = quick ? 0.3 : 1;
      const perSecond = Math.ceil(ceiling.allCores * 1.2);
      const warmup = await refreshBodies(token, user.userId, Math.ceil(perSecond * warmupSec) + connections);
      const bodies = await refreshBodies(token, user.userId, Math.ceil(perSecond * durationSec) + connections);
      await runLoad(generator, { url: tokenEndpoint, method: 'POST', headers: FORM, bodies: warmup, connections, durationSec: warmupSec });
      const refresh = await measured(
        generator,
        token.host,
        { url: tokenEndpoint, method: 'POST', headers: FORM, bodies, connections, durationSec },
        kind,
      );

      let refreshProfile: ProfileSummary | undefined;
      if (kind === preferredKind()) {
        // Where a refresh's CPU goes, under the same load.
        const profiled = await refreshBodies(token, user.userId, Math.ceil(perSecond * (quick ? 1 : 5)) + connections);
        await token.host.call('startProfile');
        await runLoad(generator, {
          url: tokenEndpoint,
          method: 'POST',
          headers: FORM,
          bodies: profiled,
          connections,
          durationSec: quick ? 1 : 5,
        });
        refreshProfile = await profileOf(token.host, `token-refresh-${kind}`, quick ? 10 : 20);
      }

      const clientCredentials = await measured(
        generator,
        token.host,
        {
          url: tokenEndpoint,
          method: 'POST',
          headers: { ...FORM, authorization: basic(DEMO_SERVICE_CLIENT.id, DEMO_SERVICE_CLIENT.secret) },
          body: 'grant_type=client_credentials&scope=notes%3Aread',
          connections,
          durationSec,
          warmupSec,
        },
        kind,
      );

      // A user of its own: the refresh user holds thousands of seeded sessions, far over
      // SESSIONS_PER_USER_MAX, and its next login would revoke them all first.
      const loginUser = await userWithLogin(token.url);
      const loginConnections = 4;
      const login = await measured(
        generator,
        token.host,
        {
          url: `${token.url}/auth/login`,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: loginUser.username, password: loginUser.password }),
          connections: loginConnections,
          durationSec: loginSec,
          timeoutSec: 120,
        },
        kind,
      );

      const row = (name: string, conns: number, m: Measured): Cell[] => [
        `${name} (${kind})`,
        conns,
        m.load.rps,
        m.load.latency.p50,
        m.load.latency.p99,
        m.cpuPerRequestMs,
        m.postgresCpuPerRequestMs ?? '-',
        m.statementsPerRequest.toFixed(2),
        failures(m.load) + (m.load.exhausted ? ' (tokens ran out)' : ''),
      ];
      rows.push(row('refresh, rotation', connections, refresh));
      rows.push(row('login, scrypt cost 17', loginConnections, login));
      rows.push(row('client_credentials', connections, clientCredentials));
      ratios.push([`refresh/s ÷ all-core sign rate (${kind})`, (refresh.load.rps / ceiling.allCores).toFixed(3)]);
      ratios.push([`refresh/s ÷ one-core sign rate (${kind})`, (refresh.load.rps / ceiling.oneCore).toFixed(3)]);
      ratios.push([`client_credentials/s ÷ all-core sign rate (${kind})`, (clientCredentials.load.rps / ceiling.allCores).toFixed(3)]);
      if (refreshProfile) profiles.push([`CPU profile of the token service under refresh load (${kind})`, refreshProfile]);
    } finally {
      await stopAll(hosts);
      await token?.stop();
    }
  }
  printTable(
    `Token service: ${durationSec} s per grant (login ${loginSec} s); latency in ms; CPU = token-service process per request`,
    ['grant', 'conns', 'req/s', 'p50', 'p99', 'CPU ms/req', 'PostgreSQL CPU ms/req', 'SQL round trips/req', 'non-200'],
    rows,
  );
  printTable('Token service against the signing ceiling (same run)', ['ratio', 'value'], ratios);
  for (const [title, profile] of profiles) printProfile(title, profile);
}

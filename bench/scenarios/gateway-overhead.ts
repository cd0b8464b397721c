// Scenario 1: what the gateway costs, against what else one could run. The
// same small upstream answered
//   (a) directly,
//   (b) through a bare http-proxy pass-through with a keep-alive agent,
//   (u) through a bare undici Pool + stream() pass-through (the floor of any Node proxy core),
//   (n) through a naive proxy that runs jose jwtVerify (RSA) on every request, then http-proxy,
//   (f) through Fastify + @fastify/http-proxy + fast-jwt with its verification cache,
//   (c) through our gateway on an auth-required route with a valid token (under tsx, as npm start),
//       which also signs the identity assertion (X-Auth-Assertion, cached per token and route),
//   (c-na) the same with the assertion off (GATEWAY_ASSERTION=false): c/c-na is what it costs,
//   (c-dist) the same, compiled (dist/, as the Docker image runs it),
//   (k) through the same gateway process as (c), same route, same user, authenticated by the
//       session cookie of a browser sign-in instead of the bearer token (issue 11: at most 1.1×),
//   (d) through our gateway on a public route,
// plus (c) with logging off, to show what the access log costs.
// Then a CPU profile of the gateway under (c) load (and, in full mode, under (k)): self time by
// function, file/package and category.
//
// Fairness on a small machine: every server and the load generator are
// separate processes (bench/lib/children.ts), so autocannon never shares an
// event loop with what it measures, and every proxy case has the same
// topology (load generator → proxy process → upstream process). The token
// service is idle during the runs (the gateway only holds its revocation
// stream open). The cases are interleaved in rounds; ratios are taken within
// each round (both sides measured minutes apart at most) and reported per
// round and as medians.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import { freePort } from '../../test/support/fault-proxy.ts';
import { printTable, quickMode, type Cell } from '../lib/stats.ts';
import type { Host } from '../lib/children.ts';
import { stopAll } from '../lib/children.ts';
import type { LoadResult } from '../lib/load.ts';
import { printProfile } from '../lib/profile.ts';
import {
  failures,
  profileOf,
  runLoad,
  signingJwk,
  startBareProxy,
  startGatewayProcess,
  startReferenceProxy,
  startLoadGenerator,
  startTokenService,
  startUpstream,
  statsOf,
  userWithLogin,
  BENCH_ISSUER,
  cookieSignIn,
  type HostStats,
  type RunningTokenService,
} from '../lib/services.ts';

const CONNECTIONS = 10;
/** Full mode: extra back-to-back (c)/(k)/(p) windows for the cookie/bearer ratio (single pairs swing by ±30 % here; 8 left the median ±5 % apart between runs). */
const COOKIE_ROUNDS = 16;
const PAIR_SECONDS = 2;

interface Case {
  key: string;
  label: string;
  url: string;
  /** The credential the request carries: the bearer token, or (k) the session cookie. */
  headers: Record<string, string>;
  /** The process that receives the load (its CPU time per request is reported). */
  front: Host;
}

interface Measured {
  load: LoadResult;
  /** CPU time (user + system) of the front process per successful request, µs. */
  cpuPerRequestUs: number;
  /** Garbage-collection pause of the front process per successful request, µs. */
  gcPerRequestUs: number;
}

export async function gatewayOverhead(): Promise<void> {
  const quick = quickMode();
  const rounds = quick ? 1 : 3;
  const durationSec = quick ? 1.5 : 5;
  const warmupSec = quick ? 0.5 : 1;
  const hosts: Array<Host | undefined> = [];
  let token: RunningTokenService | undefined;
  try {
    // The gateway under test (c, k) signs browsers in: the token service must know its callback URL up front.
    const gatewayPort = await freePort();
    const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    const tokenStarting = startTokenService('pglite', { GATEWAY_PUBLIC_URL: gatewayUrl });
    const [upstream, generator] = await Promise.all([startUpstream(), startLoadGenerator()]);
    hosts.push(upstream.host, generator);
    token = await tokenStarting;
    const tokenUrl = token.url;
    // The compiled gateway runs what `npm run build` wrote; build it now so it is this tree's code.
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
    const jwk = await signingJwk(tokenUrl);
    const reference = { target: upstream.url, jwk, issuer: BENCH_ISSUER, audience: 'whoami' };
    const track = <T extends { host: Host }>(started: T): T => (hosts.push(started.host), started);
    const cookieKeys = [crypto.randomBytes(32).toString('base64')];
    const [user, bare, undiciProxy, naive, fastify, gateway, noAssertion, compiled, quiet] = await Promise.all([
      userWithLogin(tokenUrl),
      startBareProxy(upstream.url).then(track),
      startReferenceProxy('startUndiciPassThrough', { target: upstream.url }).then(track),
      startReferenceProxy('startNaiveProxy', reference).then(track),
      startReferenceProxy('startFastifyGateway', reference).then(track),
      startGatewayProcess(tokenUrl, upstream.url, {
        logLevel: 'info',
        config: { port: gatewayPort, publicUrl: gatewayUrl },
        cookieKeys,
      }).then(track),
      startGatewayProcess(tokenUrl, upstream.url, { logLevel: 'info', config: { assertion: false } }).then(track),
      startGatewayProcess(tokenUrl, upstream.url, { logLevel: 'info', compiled: true }).then(track),
      startGatewayProcess(tokenUrl, upstream.url, { logLevel: 'silent' }).then(track),
    ]);

    // Every case sends the same request, bearer token included: only the handling differs. (k) is the
    // same user's browser session instead: its cookie, from a real sign-in (authorization code, ID token).
    const bearer = { authorization: `Bearer ${user.tokens.access_token}` };
    const sessionCookie = `session=${await cookieSignIn(gatewayUrl, { issuer: BENCH_ISSUER, tokenUrl }, user)}`;
    const cookie = { cookie: sessionCookie };
    const via = (
      key: string,
      label: string,
      front: { url: string; host: Host },
      path = '/private/x',
      headers: Record<string, string> = bearer,
    ): Case => ({ key, label, url: `${front.url}${path}`, headers, front: front.host });
    const cases: Case[] = [
      via('a', '(a) upstream directly', upstream),
      via('b', '(b) bare http-proxy, keep-alive', bare),
      via('u', '(u) bare undici Pool pass-through', undiciProxy),
      via('n', '(n) naive: jwtVerify every request + http-proxy', naive),
      via('f', '(f) Fastify + @fastify/http-proxy + fast-jwt cache', fastify),
      via('c', '(c) gateway, auth route, valid token (tsx)', gateway),
      via('k', '(k) same gateway and route, cookie session', gateway, '/private/x', cookie),
      via('cna', '(c-na) same, assertion off', noAssertion),
      via('cd', '(c-dist) same, compiled', compiled),
      via('c0', "(c') same (tsx), logging off", quiet),
      via('d', '(d) gateway, public route', gateway, '/public/x'),
    ];
    const results = new Map<string, Measured[]>(cases.map((c) => [c.key, []]));
    // (c) and (k) share a process: they swap places every other round, so that neither always runs second.
    const swapped = cases.map((c) =>
      c.key === 'c' ? cases.find((x) => x.key === 'k')! : c.key === 'k' ? cases.find((x) => x.key === 'c')! : c,
    );
    const pauseMs = (stats: HostStats) => stats.gc.minorMs + stats.gc.majorMs;
    const measure = async (c: Case, seconds: number): Promise<Measured> => {
      const before = await statsOf(c.front);
      const load = await runLoad(generator, { url: c.url, headers: c.headers, connections: CONNECTIONS, durationSec: seconds });
      const after = await statsOf(c.front);
      return {
        load,
        cpuPerRequestUs: (after.cpuUs - before.cpuUs) / Math.max(1, load.ok),
        gcPerRequestUs: ((pauseMs(after) - pauseMs(before)) * 1000) / Math.max(1, load.ok),
      };
    };
    for (let round = 0; round < rounds; round += 1) {
      for (const c of round % 2 === 0 ? cases : swapped) {
        if (round === 0) await runLoad(generator, { url: c.url, headers: c.headers, connections: CONNECTIONS, durationSec: warmupSec });
        results.get(c.key)!.push(await measure(c, durationSec));
      }
    }
    const median = (key: string): Measured => {
      const sorted = [...results.get(key)!].sort((x, y) => x.load.rps - y.load.rps);
      return sorted[Math.floor(sorted.length / 2)]!;
    };
    const rows: Cell[][] = cases.map((c) => {
      const m = median(c.key);
      const all = results.get(c.key)!.map((r) => r.load.rps);
      const spread = all.length > 1 ? `${Math.round(Math.min(...all))}–${Math.round(Math.max(...all))}` : '';
      return [c.label, m.load.rps, m.load.latency.p50, m.load.latency.p99, m.cpuPerRequestUs, m.gcPerRequestUs, failures(m.load), spread];
    });
    printTable(
      `Gateway overhead: ${CONNECTIONS} connections, ${rounds} × ${durationSec} s per case (median round; latency in ms; CPU of the process receiving the load)`,
      ['case', 'req/s', 'p50', 'p99', 'CPU µs/req', 'GC µs/req', 'non-200', 'req/s range'],
      rows,
    );
    // Ratios within each round, then their medians.
    const ratio = (x: string, y: string, round: number) => results.get(x)![round]!.load.rps / results.get(y)![round]!.load.rps;
    const ratios: Array<[string, string, string, string]> = [
      ['c/b', 'c', 'b', '≥ 0.90'],
      ['k/c  cookie / bearer (order-biased: see below)', 'k', 'c', ''],
      ['c/n', 'c', 'n', '≥ 1.0'],
      ['c/u', 'c', 'u', ''],
      ['c/c-na  assertion on / off', 'c', 'cna', '≥ 0.95'],
      ['c/f', 'c', 'f', '≥ 1.0'],
      ['c-dist/f', 'cd', 'f', '≥ 1.0'],
      ['c-dist/b', 'cd', 'b', ''],
      ["c'/b (no access log)", 'c0', 'b', ''],
      ['d/b  public route', 'd', 'b', ''],
      ['u/b  undici core / http-proxy', 'u', 'b', ''],
      ['f/b', 'f', 'b', ''],
      ['b/a  bare proxy / upstream', 'b', 'a', ''],
    ];
    const roundNumbers = Array.from({ length: rounds }, (_, i) => i);
    printTable(
      'Gateway overhead: req/s ratios, within each round and their median (same run)',
      ['ratio', ...roundNumbers.map((r) => `round ${r + 1}`), 'median', 'target'],
      ratios.map(([label, x, y, target]) => {
        const values = roundNumbers.map((r) => ratio(x, y, r));
        const middle = [...values].sort((p, q) => p - q)[Math.floor(values.length / 2)] as number;
        return [label, ...values.map((v) => v.toFixed(3)), middle.toFixed(3), target];
      }),
    );

    // Issue 11: a cookie request costs at most 1.1× a bearer request; CPU per request is the steadier figure.
    // Within a round, whichever of them runs first does so on a process that sat idle while the other
    // cases ran, and that window costs more CPU per request (up to 2× here), so the rounds' k/c above
    // mostly says which went first. Full mode measures the ratio on short windows back to back on the
    // warm process, rotating which goes first, and reports the median and range over the rounds. Each
    // round also runs (p): the bearer request padded to the cookie request's size with a header the
    // gateway parses and drops (named in Connection, as the session cookie is stripped), to separate what
    // the request's size costs from what the cookie path's own code does.
    const pairs: Array<{ c: Measured; k: Measured; p?: Measured }> = quick ? [{ c: results.get('c')![0]!, k: results.get('k')![0]! }] : [];
    const [bearerCase, cookieCase] = [cases.find((x) => x.key === 'c')!, cases.find((x) => x.key === 'k')!];
    const padding = Math.max(1, Buffer.byteLength(sessionCookie) - Buffer.byteLength(bearer.authorization) - 'x-pad: \r\n, x-pad'.length);
    const paddedCase: Case = {
      ...bearerCase,
      key: 'p',
      headers: { ...bearer, connection: 'keep-alive, x-pad', 'x-pad': 'p'.repeat(padding) },
    };
    if (!quick) for (const c of [bearerCase, cookieCase, paddedCase]) await measure(c, 1);
    for (let pair = 0; pair < (quick ? 0 : COOKIE_ROUNDS); pair += 1) {
      // The order rotates, so each case runs first, second and third about equally often.
      const order = [cookieCase, bearerCase, paddedCase].map((_, i, all) => all[(i + pair) % all.length]!);
      const measured = new Map<string, Measured>();
      for (const c of order) measured.set(c.key, await measure(c, PAIR_SECONDS));
      pairs.push({ c: measured.get('c')!, k: measured.get('k')!, p: measured.get('p')! });
    }
    const sorted = (values: number[]) => [...values].sort((p, q) => p - q);
    const summary = (values: number[]): Cell[] => {
      const s = sorted(values);
      return [s[Math.floor(s.length / 2)]!.toFixed(3), `${s[0]!.toFixed(3)}–${s[s.length - 1]!.toFixed(3)}`];
    };
    const cpuRatios = pairs.map(({ c, k }) => k.cpuPerRequestUs / c.cpuPerRequestUs);
    const timeRatios = pairs.map(({ c, k }) => c.load.rps / k.load.rps);
    printTable(
      `Cookie session vs bearer token (same gateway process, route and user): cost of (k) ÷ cost of (c), ` +
        (quick
          ? 'one round, quick mode ((c) first on an idle process: proves the script, not a figure)'
          : `${COOKIE_ROUNDS} rounds of (c), (k) and (p) (bearer padded to the cookie request's size), ${PAIR_SECONDS} s windows back to back, order rotating`),
      ['ratio', 'median', 'range', 'target'],
      [
        ['CPU µs/req, (k)/(c)', ...summary(cpuRatios), '≤ 1.10'],
        ['time per request (1 / req/s), (k)/(c)', ...summary(timeRatios), '≤ 1.10'],
        ...(quick
          ? []
          : [
              ['CPU µs/req, (p)/(c): the size alone', ...summary(pairs.map(({ c, p }) => p!.cpuPerRequestUs / c.cpuPerRequestUs)), ''],
              [
                'CPU µs/req, (k)/(p): the cookie path alone',
                ...summary(pairs.map(({ k, p }) => k.cpuPerRequestUs / p!.cpuPerRequestUs)),
                '',
              ],
            ]),
      ],
    );
    printTable(
      'Request sizes (bytes)',
      ['what', 'bytes'],
      [
        ['session cookie, name=value (a sign-in with scopes "openid profile")', Buffer.byteLength(sessionCookie)],
        ['Authorization header value (Bearer <access token>)', Buffer.byteLength(bearer.authorization)],
      ],
    );

    // Where the gateway spends its time under (c), next to the bare proxy under (b).
    const profileSec = quick ? 1 : 5;
    await bare.host.call('startProfile');
    await runLoad(generator, { url: `${bare.url}/private/x`, headers: bearer, connections: CONNECTIONS, durationSec: profileSec });
    const bareProfile = await profileOf(bare.host, 'bare-proxy-b', quick ? 8 : 12);
    await gateway.host.call('startProfile');
    await runLoad(generator, { url: `${gateway.url}/private/x`, headers: bearer, connections: CONNECTIONS, durationSec: profileSec });
    printProfile('CPU profile of the gateway under (c)', await profileOf(gateway.host, 'gateway-c', quick ? 10 : 25));
    printProfile('CPU profile of the bare proxy under (b), for comparison', bareProfile);
    if (!quick) {
      await gateway.host.call('startProfile');
      await runLoad(generator, { url: `${gateway.url}/private/x`, headers: cookie, connections: CONNECTIONS, durationSec: profileSec });
      printProfile('CPU profile of the gateway under (k), cookie session', await profileOf(gateway.host, 'gateway-k', 25));
    }
  } finally {
    await stopAll(hosts);
    await token?.stop();
  }
}

// Scenario 6: a minute of mixed traffic — virtual users logging in (scrypt at
// cost 17), calling an authenticated route through the gateway, refreshing
// (rotation), logging out and checking the gateway then refuses them — with
// zero errors expected, while the RSS of both services is sampled every few
// seconds. The trend is the slope of a least-squares line through the samples
// after the first fifth of the run (warm-up: pools, JIT, caches filling).
//
// Processes: token service, gateway, upstream, and the clients in a fourth.
// On PGlite the database lives in the token service's memory, so its RSS grows
// with the rows written; PostgreSQL (TEST_DATABASE_URL) keeps the data outside.
import { stopAll, type Host } from '../lib/children.ts';
import type { SoakResult } from '../lib/soak-client.ts';
import { printTable, quickMode, type Cell } from '../lib/stats.ts';
import {
  MB,
  preferredKind,
  startGatewayProcess,
  startLoadGenerator,
  startTokenService,
  startUpstream,
  statsOf,
  userWithLogin,
  type HostStats,
  type RunningTokenService,
} from '../lib/services.ts';

/** Least-squares slope of y over x. */
export function slope(points: Array<[number, number]>): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const sxy = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return sxx === 0 ? Number.NaN : sxy / sxx;
}

export async function soak(): Promise<void> {
  const quick = quickMode();
  const durationSec = quick ? 3 : 60;
  const everyMs = quick ? 500 : 5000;
  const virtualUsers = 8;
  const hosts: Host[] = [];
  let token: RunningTokenService | undefined;
  const samples: Array<{ t: number; token: HostStats; gateway: HostStats }> = [];
  let result: SoakResult | undefined;
  try {
    // Virtual users are told apart by X-Forwarded-For (bench/lib/soak-client.ts).
    const tokenStarting = startTokenService(preferredKind(), { TRUST_PROXY: 'true' });
    const [upstream, clients] = await Promise.all([startUpstream(), startLoadGenerator('soak clients')]);
    hosts.push(upstream.host, clients);
    token = await tokenStarting;
    const gateway = await startGatewayProcess(token.url, upstream.url);
    hosts.push(gateway.host);
    const users = [];
    for (let i = 0; i < 4; i += 1) {
      const { username, password } = await userWithLogin(token.url);
      users.push({ username, password });
    }
    const started = performance.now();
    const sample = async () => {
      // After a full GC, so that the series shows what is retained, not garbage not yet collected.
      const [tokenStats, gatewayStats] = await Promise.all([statsOf(token!.host, true), statsOf(gateway.host, true)]);
      samples.push({ t: (performance.now() - started) / 1000, token: tokenStats, gateway: gatewayStats });
    };
    await sample();
    const run = clients.call<SoakResult>('runSoak', {
      tokenUrl: token.url,
      gatewayUrl: gateway.url,
      users,
      virtualUsers,
      durationSec,
      refreshesPerSession: 20,
      callsPerRefresh: 25,
    });
    let finished = false;
    void run.finally(() => (finished = true)).catch(() => undefined);
    while (!finished) {
      await Promise.race([run.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, everyMs))]);
      if (!finished) await sample();
    }
    result = await run;
    await sample();
  } finally {
    await stopAll(hosts);
    await token?.stop();
  }

  printTable(
    `Soak: ${durationSec} s of mixed traffic, ${virtualUsers} virtual users (${token?.kind}); RSS and heap in MB, sampled after a full GC`,
    ['t (s)', 'token RSS', 'token heap', 'gateway RSS', 'gateway heap', 'denylist'],
    samples.map((s) => [
      s.t,
      s.token.rss / MB,
      s.token.heapUsed / MB,
      s.gateway.rss / MB,
      s.gateway.heapUsed / MB,
      s.gateway.denylist?.sessions ?? 0,
    ]),
  );
  const steady = samples.filter((s) => s.t >= durationSec / 5);
  const trend = (pick: (s: (typeof samples)[number]) => number) => slope(steady.map((s) => [s.t / 60, pick(s) / MB]));
  printTable(
    'Soak: memory trend after the first fifth (least-squares slope)',
    ['series', 'MB/min', 'first MB', 'last MB'],
    [
      ['token service RSS', trend((s) => s.token.rss), samples[0]!.token.rss / MB, samples.at(-1)!.token.rss / MB],
      ['token service heap used', trend((s) => s.token.heapUsed), samples[0]!.token.heapUsed / MB, samples.at(-1)!.token.heapUsed / MB],
      ['gateway RSS', trend((s) => s.gateway.rss), samples[0]!.gateway.rss / MB, samples.at(-1)!.gateway.rss / MB],
      ['gateway heap used', trend((s) => s.gateway.heapUsed), samples[0]!.gateway.heapUsed / MB, samples.at(-1)!.gateway.heapUsed / MB],
    ],
  );
  if (result) {
    const rows: Cell[][] = Object.entries(result.latency).map(([kind, s]) => [kind, result!.counts[kind] ?? 0, s.p50, s.p99, s.max]);
    printTable(`Soak: requests (errors: ${result.errors})`, ['request', 'ok', 'p50 ms', 'p99 ms', 'max ms'], rows);
    for (const sampleText of result.errorSamples) console.log(`  error: ${sampleText}`);
  }
}

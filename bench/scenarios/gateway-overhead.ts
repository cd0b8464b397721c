// Scenario 1: what the gateway costs on top of a bare reverse proxy. The same
// small upstream answered
//   (a) directly,
//   (b) through a bare http-proxy pass-through with a keep-alive agent,
//   (c) through our gateway on an auth-required route with a valid token,
//   (d) through our gateway on a public route,
// plus (c) with logging off, to show what the access log costs.
// Then a CPU profile of the gateway under (c) load: self time by function,
// file/package and category.
//
// Fairness on a small machine: every server and the load generator are
// separate processes (bench/lib/children.ts), so autocannon never shares an
// event loop with what it measures, and (b), (c) and (d) have the same
// topology (load generator → proxy process → upstream process). The token
// service is idle during the runs (the gateway only holds its revocation
// stream open). The cases are interleaved in rounds and each reports its
// median round, so a burst of other work on the machine does not land on one
// case only.
import { printTable, quickMode, type Cell } from '../lib/stats.ts';
import type { Host } from '../lib/children.ts';
import { stopAll } from '../lib/children.ts';
import type { LoadResult } from '../lib/load.ts';
import type { ProfileSummary } from '../lib/profile.ts';
import {
  failures,
  profileOf,
  runLoad,
  startBareProxy,
  startGatewayProcess,
  startLoadGenerator,
  startTokenService,
  startUpstream,
  statsOf,
  userWithLogin,
  type HostStats,
  type RunningTokenService,
} from '../lib/services.ts';

const CONNECTIONS = 10;

interface Case {
  key: string;
  label: string;
  url: string;
  headers?: Record<string, string>;
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

export function printProfile(title: string, profile: ProfileSummary): void {
  const rows = (items: ProfileSummary['byFunction']): Cell[][] => items.map((item) => [item.name, item.selfMs, `${item.percent.toFixed(1)}%`]);
  console.log(`\n${title}: ${Math.round(profile.busyMs)} ms busy of ${Math.round(profile.totalMs)} ms sampled; full profile: ${profile.file}`);
  printTable('  by category (self time)', ['category', 'self ms', 'share'], rows(profile.byCategory));
  printTable('  by file / package (self time)', ['file or package', 'self ms', 'share'], rows(profile.byFile));
  printTable('  by function (self time)', ['function  location', 'self ms', 'share'], rows(profile.byFunction));
}

export async function gatewayOverhead(): Promise<void> {
  const quick = quickMode();
  const rounds = quick ? 1 : 3;
  const durationSec = quick ? 1.5 : 5;
  const warmupSec = quick ? 0.5 : 1;
  const hosts: Array<Host | undefined> = [];
  let token: RunningTokenService | undefined;
  try {
    const tokenStarting = startTokenService('pglite');
    const [upstream, generator] = await Promise.all([startUpstream(), startLoadGenerator()]);
    hosts.push(upstream.host, generator);
    token = await tokenStarting;
    const tokenUrl = token.url;
    const [{ tokens }, bare, gateway, quiet] = await Promise.all([
      userWithLogin(tokenUrl),
      startBareProxy(upstream.url).then((started) => (hosts.push(started.host), started)),
      startGatewayProcess(tokenUrl, upstream.url, { logLevel: 'info' }).then((started) => (hosts.push(started.host), started)),
      startGatewayProcess(tokenUrl, upstream.url, { logLevel: 'silent' }).then((started) => (hosts.push(started.host), started)),
    ]);

    const bearer = { authorization: `Bearer ${tokens.access_token}` };
    const cases: Case[] = [
      // Every case sends the same request, bearer token included: only the handling differs.
      { key: 'a', label: '(a) upstream directly', url: `${upstream.url}/private/x`, headers: bearer, front: upstream.host },
      { key: 'b', label: '(b) bare http-proxy, keep-alive', url: `${bare.url}/private/x`, headers: bearer, front: bare.host },
      { key: 'c', label: '(c) gateway, auth route, valid token', url: `${gateway.url}/private/x`, headers: bearer, front: gateway.host },
      { key: 'c0', label: "(c') same, logging off", url: `${quiet.url}/private/x`, headers: bearer, front: quiet.host },
      { key: 'd', label: '(d) gateway, public route', url: `${gateway.url}/public/x`, headers: bearer, front: gateway.host },
    ];
    const results = new Map<string, Measured[]>(cases.map((c) => [c.key, []]));
    for (let round = 0; round < rounds; round += 1) {
      for (const c of cases) {
        const spec = { url: c.url, ...(c.headers ? { headers: c.headers } : {}), connections: CONNECTIONS };
        if (round === 0) await runLoad(generator, { ...spec, durationSec: warmupSec });
        const before = await statsOf(c.front);
        const load = await runLoad(generator, { ...spec, durationSec });
        const after = await statsOf(c.front);
        const pauseMs = (stats: HostStats) => stats.gc.minorMs + stats.gc.majorMs;
        results.get(c.key)!.push({
          load,
          cpuPerRequestUs: (after.cpuUs - before.cpuUs) / Math.max(1, load.ok),
          gcPerRequestUs: ((pauseMs(after) - pauseMs(before)) * 1000) / Math.max(1, load.ok),
        });
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
    const rps = (key: string) => median(key).load.rps;
    printTable(
      'Gateway overhead: ratios (same run)',
      ['ratio', 'value', 'target'],
      [
        ['c/b  gateway auth route / bare proxy', (rps('c') / rps('b')).toFixed(3), '≥ 0.90'],
        ["c'/b gateway auth route, no logging / bare proxy", (rps('c0') / rps('b')).toFixed(3), ''],
        ['d/b  gateway public route / bare proxy', (rps('d') / rps('b')).toFixed(3), ''],
        ['b/a  bare proxy / upstream directly', (rps('b') / rps('a')).toFixed(3), ''],
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
  } finally {
    await stopAll(hosts);
    await token?.stop();
  }
}

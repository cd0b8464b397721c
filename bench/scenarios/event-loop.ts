// Scenario 5: refresh latency alone, and while 20 clients log in without pause
// (scrypt at the real cost 17: ~128 MiB and about a second of CPU each). The
// hashing runs on libuv's thread pool, so it must not block the event loop:
// the token service's event-loop delay (perf_hooks monitorEventLoopDelay, in
// the token-service process) is reported for both phases next to refresh
// p50/p99.
//
// Three processes: the token service, a load generator for the refreshes and
// another for the login storm.
import { stopAll, type Host } from '../lib/children.ts';
import type { LoadResult } from '../lib/load.ts';
import { printTable, quickMode, type Cell } from '../lib/stats.ts';
import {
  failures,
  preferredKind,
  runLoad,
  startLoadGenerator,
  startTokenService,
  statsOf,
  userWithLogin,
  type HostStats,
  type RunningTokenService,
} from '../lib/services.ts';
import { FORM, refreshBodies } from './token-service.ts';

const STORM_CLIENTS = 20;
const REFRESH_CONNECTIONS = 4;

export async function eventLoop(): Promise<void> {
  const quick = quickMode();
  const durationSec = quick ? 2 : 15;
  const hosts: Host[] = [];
  let token: RunningTokenService | undefined;
  const rows: Cell[][] = [];
  try {
    const tokenStarting = startTokenService(preferredKind());
    const [refreshers, storm] = await Promise.all([startLoadGenerator('refresh load'), startLoadGenerator('login storm')]);
    hosts.push(refreshers, storm);
    token = await tokenStarting;
    const user = await userWithLogin(token.url);
    const url = `${token.url}/oauth/token`;
    // Refresh rates here stay far below the signing ceiling; 3000/s is ample.
    const tokensFor = (seconds: number) => refreshBodies(token!, user.userId, Math.ceil(3000 * seconds) + REFRESH_CONNECTIONS);
    const warmup = await tokensFor(1);
    const alone = await tokensFor(durationSec);
    const during = await tokensFor(durationSec);
    await runLoad(refreshers, { url, method: 'POST', headers: FORM, bodies: warmup, connections: REFRESH_CONNECTIONS, durationSec: quick ? 0.3 : 1 });

    const phase = async (name: string, withStorm: boolean) => {
      let stormRun: Promise<LoadResult> | undefined;
      if (withStorm) {
        // Start the storm first and let the thread pool fill before measuring.
        stormRun = runLoad(storm, {
          url: `${token!.url}/auth/login`,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ username: user.username, password: user.password }),
          connections: STORM_CLIENTS,
          durationSec: durationSec + 2,
          timeoutSec: 120,
        });
        await new Promise((resolve) => setTimeout(resolve, 1500));
      }
      await token!.host.call('resetLoopDelay');
      const before = await statsOf(token!.host);
      const refresh = await runLoad(refreshers, {
        url,
        method: 'POST',
        headers: FORM,
        bodies: withStorm ? during : alone,
        connections: REFRESH_CONNECTIONS,
        durationSec,
      });
      const after: HostStats = await statsOf(token!.host);
      const logins = stormRun ? await stormRun : undefined;
      const cpu = (after.cpuUs - before.cpuUs) / 1e6 / refresh.elapsedSec;
      rows.push([
        name,
        refresh.rps,
        refresh.latency.p50,
        refresh.latency.p99,
        refresh.latency.max,
        logins ? `${logins.rps.toFixed(2)} (p50 ${Math.round(logins.latency.p50)} ms)` : '—',
        after.loopDelay.p50,
        after.loopDelay.p99,
        after.loopDelay.max,
        `${Math.round(cpu * 100)}%`,
        failures(refresh) + (logins && failures(logins) !== '0' ? `; logins: ${failures(logins)}` : ''),
      ]);
    };
    await phase('refresh alone', false);
    await phase(`refresh + ${STORM_CLIENTS} clients logging in`, true);
  } finally {
    await stopAll(hosts);
    await token?.stop();
  }
  printTable(
    `Event loop under a login storm (${token?.kind ?? ''}; scrypt cost 17; ${REFRESH_CONNECTIONS} refresh connections, ${durationSec} s per phase; ms)`,
    ['phase', 'refresh/s', 'p50', 'p99', 'max', 'logins/s', 'loop p50', 'loop p99', 'loop max', 'CPU', 'non-200'],
    rows,
  );
}

// Scenario 5: refresh latency alone, and while 20 clients log in without pause
// (scrypt at the real cost 17: ~128 MiB and about a second of CPU each). The
// hashing runs on libuv's thread pool, so it must not block the event loop:
// the token service's event-loop delay (perf_hooks monitorEventLoopDelay, in
// the token-service process) is reported for both phases next to refresh
// p50/p99.
//
// Then a legitimate login's latency alone, and right after a burst of 40
// failed logins from one address (issue 9: every failure of such a burst used
// to be hashed first, and the login waited behind them).
//
// Three processes: the token service, a load generator for the refreshes and
// another for the login storm. Clients are told apart by X-Forwarded-For
// (TRUST_PROXY=true), as behind the gateway: each of the 20 storm clients has
// an address of its own.
import { stopAll, type Host } from '../lib/children.ts';
import type { BurstResult, BurstSpec } from '../lib/burst-client.ts';
import type { LoadResult } from '../lib/load.ts';
import { printTable, quickMode, type Cell } from '../lib/stats.ts';
import { login } from '../../test/support/http.ts';
import {
  failures,
  preferredKind,
  runLoad,
  startLoadGenerator,
  startTokenService,
  statsOf,
  registeredUser,
  userWithLogin,
  type HostStats,
  type RunningTokenService,
} from '../lib/services.ts';
import { FORM, refreshBodies } from './token-service.ts';

const STORM_CLIENTS = 20;
const REFRESH_CONNECTIONS = 4;
const BURST = 40;

export async function eventLoop(): Promise<void> {
  const quick = quickMode();
  const durationSec = quick ? 2 : 15;
  // Quick mode only proves the scenario runs: registering 20 users at scrypt cost 17 alone takes ~15 s.
  const stormClientCount = quick ? 4 : STORM_CLIENTS;
  const hosts: Host[] = [];
  let token: RunningTokenService | undefined;
  const rows: Cell[][] = [];
  const burstRows: Cell[][] = [];
  try {
    const tokenStarting = startTokenService(preferredKind(), { TRUST_PROXY: 'true' });
    const [refreshers, storm] = await Promise.all([startLoadGenerator('refresh load'), startLoadGenerator('login storm')]);
    hosts.push(refreshers, storm);
    token = await tokenStarting;
    const user = await userWithLogin(token.url);
    // The storm: 20 clients (4 in quick mode), each a user of its own at an address of its own
    // (one user's 20 concurrent logins would lock that account: attempts count as admitted).
    const stormClients: Array<{ headers: Record<string, string>; body: string }> = [];
    for (let i = 0; i < stormClientCount; i += 1) {
      const { username, password } = await registeredUser(token.url, 'storm');
      stormClients.push({ headers: { 'x-forwarded-for': `198.51.100.${i + 1}` }, body: JSON.stringify({ username, password }) });
    }
    const url = `${token.url}/oauth/token`;
    // Refresh rates here stay far below the signing ceiling; 3000/s is ample.
    const tokensFor = (seconds: number) => refreshBodies(token!, user.userId, Math.ceil(3000 * seconds) + REFRESH_CONNECTIONS);
    const warmup = await tokensFor(1);
    const alone = await tokensFor(durationSec);
    const during = await tokensFor(durationSec);
    await runLoad(refreshers, {
      url,
      method: 'POST',
      headers: FORM,
      bodies: warmup,
      connections: REFRESH_CONNECTIONS,
      durationSec: quick ? 0.3 : 1,
    });

    const phase = async (name: string, withStorm: boolean) => {
      let stormRun: Promise<LoadResult> | undefined;
      if (withStorm) {
        // Start the storm first and let the thread pool fill before measuring.
        stormRun = runLoad(storm, {
          url: `${token!.url}/auth/login`,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          rotate: stormClients,
          connections: stormClientCount,
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
    await phase(`refresh + ${stormClientCount} clients logging in`, true);

    const rounds = quick ? 3 : 15;
    const burstPhase = async (name: string, burstSize: number) => {
      const result = await storm.call<BurstResult>('runBursts', {
        url: `${token!.url}/auth/login`,
        rounds,
        burstSize,
        burstAddress: '203.0.113.9',
        login: { username: loginUser.username, password: loginUser.password, address: '198.51.100.200' },
        pauseMs: 200,
      } satisfies BurstSpec);
      const statuses = (counts: Record<string, number>) =>
        Object.entries(counts)
          .map(([status, n]) => `${n}×${status}`)
          .join(', ') || '—';
      burstRows.push([
        name,
        result.login.count,
        result.login.p50,
        result.login.p99,
        result.login.max,
        statuses(result.loginStatuses),
        burstSize ? statuses(result.burstStatuses) : '—',
        burstSize ? result.burst.p50 : '—',
      ]);
    };
    // A user of its own (the refresh user has thousands of seeded sessions).
    const loginUser = await registeredUser(token.url, 'legit');
    // Unmeasured: whatever the storm left in the hashing queue drains first.
    await login(token.url, loginUser.username, loginUser.password);
    await burstPhase('login alone', 0);
    await burstPhase(`login right after ${BURST} failures from one address`, BURST);
  } finally {
    await stopAll(hosts);
    await token?.stop();
  }
  printTable(
    `Event loop under a login storm (${token?.kind ?? ''}; scrypt cost 17; ${REFRESH_CONNECTIONS} refresh connections, ${durationSec} s per phase; ms)`,
    ['phase', 'refresh/s', 'p50', 'p99', 'max', 'logins/s', 'loop p50', 'loop p99', 'loop max', 'CPU', 'non-200'],
    rows,
  );
  printTable(
    `A legitimate login under a burst of ${BURST} failed logins from one address (${token?.kind ?? ''}; scrypt cost 17; one login per round; ms)`,
    ['phase', 'logins', 'p50', 'p99', 'max', 'login status', 'burst statuses', 'burst p50'],
    burstRows,
  );
}

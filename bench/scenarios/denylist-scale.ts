// Scenario 4: a gateway that starts with 10k, 100k or 1M revoked sessions in
// the log. The revocation rows are inserted in bulk with SQL (random sids, live
// for hours), then a fresh gateway process starts and syncs them through the
// catch-up endpoint (pages of 5000), as a real gateway would after a restart.
// Reported: time from start to ready (discovery, JWKS, full catch-up, live
// stream), the gateway process's RSS and heap after a GC, and scenario 1c
// throughput (auth route, valid token) against the same gateway with an empty
// denylist, measured in the same run.
//
// Sizes: 0, 10k, 100k, 1M in full mode (on PostgreSQL when TEST_DATABASE_URL is
// set, else on PGlite, where the 1M insert takes longer); 0 and 10k in quick mode.
import { stopAll, type Host } from '../lib/children.ts';
import { printTable, quickMode, type Cell } from '../lib/stats.ts';
import {
  failures,
  MB,
  preferredKind,
  runLoad,
  startGatewayProcess,
  startLoadGenerator,
  startTokenService,
  startUpstream,
  statsOf,
  userWithLogin,
  type RunningTokenService,
} from '../lib/services.ts';

const TARGET_RSS_MB = 250;

export async function denylistScale(): Promise<void> {
  const quick = quickMode();
  const kind = preferredKind();
  const sizes = quick ? [0, 10_000] : [0, 10_000, 100_000, 1_000_000];
  const durationSec = quick ? 1 : 5;
  const hosts: Host[] = [];
  let token: RunningTokenService | undefined;
  const rows: Cell[][] = [];
  let baselineRps = Number.NaN;
  try {
    const tokenStarting = startTokenService(kind);
    const [upstream, generator] = await Promise.all([startUpstream(), startLoadGenerator()]);
    hosts.push(upstream.host, generator);
    token = await tokenStarting;
    const { tokens } = await userWithLogin(token.url);
    const bearer = { authorization: `Bearer ${tokens.access_token}` };
    let inLog = 0;
    for (const size of sizes) {
      let insertSec = 0;
      if (size > inLog) {
        const started = performance.now();
        inLog = await token.host.call<number>('seedRevocations', { count: size - inLog });
        insertSec = (performance.now() - started) / 1000;
      }
      const gateway = await startGatewayProcess(token.url, upstream.url, { readyTimeoutMs: 600_000 });
      try {
        const settled = await statsOf(gateway.host, true);
        const spec = { url: `${gateway.url}/private/x`, headers: bearer, connections: 10 };
        await runLoad(generator, { ...spec, durationSec: quick ? 0.5 : 1 });
        const load = await runLoad(generator, { ...spec, durationSec });
        const loaded = await statsOf(gateway.host);
        if (size === 0) baselineRps = load.rps;
        const entries = settled.denylist?.sessions ?? 0;
        rows.push([
          size.toLocaleString('en-US'),
          entries.toLocaleString('en-US'),
          insertSec > 0 ? insertSec : '',
          gateway.readyMs / 1000,
          settled.rss / MB,
          settled.heapUsed / MB,
          loaded.rss / MB,
          load.rps,
          load.latency.p99,
          (load.rps / baselineRps).toFixed(3),
          failures(load),
        ]);
      } finally {
        await gateway.host.stop();
      }
    }
  } finally {
    await stopAll(hosts);
    await token?.stop();
  }
  printTable(
    `Denylist scale (${kind}): gateway process with N revoked sessions (RSS target ≤ ${TARGET_RSS_MB} MB at 1M; MB; 1c load ${durationSec} s, 10 connections)`,
    [
      'revoked',
      'in denylist',
      'insert s',
      'start→ready s',
      'RSS after GC',
      'heap used',
      'RSS under load',
      '1c req/s',
      'p99 ms',
      'vs empty',
      'non-200',
    ],
    rows,
  );
}

// Scenario 7: WebSocket peers that do not read (issue 9: "one user sent 128 MiB
// without reading and the gateway grew by about 120 MiB"). Three cases through
// a gateway process: a client that sends 128 MiB to an echo and never reads; an
// upstream that sends 128 MiB to a client that never reads; a client that sends
// 128 MiB to an upstream that never reads. Each sender queues at most 256 KiB
// itself and sends as fast as its socket takes data, until it has sent it all or
// has been pushed back (no progress for a second).
//
// Reported, for the gateway process: memory held in Buffers (arrayBuffers,
// after a full GC: what is really kept, not garbage awaiting collection) before
// the case, at its peak while it runs (sampled every 100 ms) and once the sender
// is stalled; RSS before and at its peak (RSS also counts garbage not yet
// collected); and how much the sender got rid of.
// Echo, sink and flooder each run in their own process; the client runs here.
import { WebSocket } from 'ws';
import { flood, untilStalled, type Flood } from '../../test/support/websocket-peers.ts';
import type { RoutesFileInput } from '../../gateway/routes/schema.ts';
import { Host, stopAll } from '../lib/children.ts';
import { printTable, quickMode, type Cell } from '../lib/stats.ts';
import { MB, preferredKind, startGatewayProcess, startTokenService, statsOf, userWithLogin, type RunningTokenService } from '../lib/services.ts';

interface Case {
  name: string;
  path: string;
  /** Who sends: the client (progress seen here) or the upstream (progress asked of its process). */
  sender: 'client' | 'upstream';
}

// The sink case last: its relay stays until WEBSOCKET_STALL_TIMEOUT (the upstream never reads).
const CASES: Case[] = [
  { name: 'client sends, never reads; echo upstream', path: '/echo/ws', sender: 'client' },
  { name: 'upstream sends; client never reads', path: '/flood/ws', sender: 'upstream' },
  { name: 'client sends; upstream never reads', path: '/sink/ws', sender: 'client' },
];

async function webSocketUpstream(mode: 'echo' | 'sink' | 'flood', floodBytes: number): Promise<{ host: Host; url: string }> {
  const host = await Host.start({ name: `websocket ${mode} upstream` });
  const { url } = await host.call<{ url: string }>('startWebSocketUpstream', { mode, floodBytes });
  return { host, url };
}

export async function websocketFlood(): Promise<void> {
  const totalBytes = (quickMode() ? 32 : 128) * MB;
  const hosts: Host[] = [];
  let token: RunningTokenService | undefined;
  const rows: Cell[][] = [];
  try {
    token = await startTokenService(preferredKind());
    const [echo, sink, flooder] = await Promise.all([
      webSocketUpstream('echo', 0),
      webSocketUpstream('sink', 0),
      webSocketUpstream('flood', totalBytes),
    ]);
    hosts.push(echo.host, sink.host, flooder.host);
    const route = (id: string, upstream: string) => ({ id, prefix: `/${id}`, upstream, auth: 'required', audience: 'whoami', websocket: true });
    const gateway = await startGatewayProcess(token.url, echo.url, {
      config: { routes: { routes: [route('echo', echo.url), route('sink', sink.url), route('flood', flooder.url)] } as RoutesFileInput },
    });
    hosts.push(gateway.host);
    const { tokens } = await userWithLogin(token.url);

    for (const benchCase of CASES) {
      const before = await statsOf(gateway.host, true);
      const socket = new WebSocket(`${gateway.url.replace(/^http/, 'ws')}${benchCase.path}`, {
        headers: { authorization: `Bearer ${tokens.access_token}` },
        perMessageDeflate: false,
      });
      socket.on('error', () => undefined);
      let sending: Flood | undefined;
      await new Promise<void>((resolve, reject) => {
        socket.once('open', () => {
          socket.pause(); // never reads
          if (benchCase.sender === 'client') sending = flood(socket, totalBytes, 64 * 1024);
          resolve();
        });
        socket.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      });
      let upstreamFlushed = 0;
      const progress = () => (sending ? sending.flushed : upstreamFlushed);
      let peak = { rss: before.rss, arrayBuffers: before.arrayBuffers };
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const now = await statsOf(gateway.host, true);
          peak = { rss: Math.max(peak.rss, now.rss), arrayBuffers: Math.max(peak.arrayBuffers, now.arrayBuffers) };
          if (benchCase.sender === 'upstream') upstreamFlushed = await flooder.host.call<number>('webSocketFloodProgress');
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      })();
      const started = performance.now();
      await untilStalled(progress, () => progress() >= totalBytes, 1000, 120_000);
      const seconds = (performance.now() - started) / 1000;
      const stalled = await statsOf(gateway.host, true);
      sampling = false;
      await sampler;
      socket.terminate();
      rows.push([
        benchCase.name,
        totalBytes / MB,
        progress() / MB,
        seconds,
        before.arrayBuffers / MB,
        peak.arrayBuffers / MB,
        stalled.arrayBuffers / MB,
        before.rss / MB,
        peak.rss / MB,
        (peak.rss - before.rss) / MB,
      ]);
      // Let both legs close (a peer that never answers the close frame is cut off after 2 s).
      await new Promise((resolve) => setTimeout(resolve, 2500));
    }
  } finally {
    await stopAll(hosts);
    await token?.stop();
  }
  printTable(
    'WebSocket peers that do not read: the gateway process (MiB; "sent" = what the sender got rid of before being pushed back)',
    ['case', 'to send', 'sent', 's', 'buffers before', 'buffers peak', 'buffers stalled', 'RSS before', 'RSS peak', 'RSS growth'],
    rows,
  );
}

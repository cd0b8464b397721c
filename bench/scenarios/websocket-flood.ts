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
// the case and once the sender is stalled (sampling it while data flows would
// count backing stores V8 has not swept yet); RSS before and at its peak,
// sampled every 100 ms (RSS also counts garbage not yet collected); the JS heap
// (after GC) before and once stalled, where queued writes of tiny messages
// would show; and how much the sender got rid of.
// A fourth case sends 64-byte messages (quick mode: 8 MiB of them, else 32 MiB).
// Echo, sink and flooder each run in their own process; the client runs here.
import { WebSocket } from 'ws';
import { flood, untilStalled, type Flood } from '../../test/support/websocket-peers.ts';
import type { RoutesFileInput } from '../../gateway/routes/schema.ts';
import { Host, stopAll } from '../lib/children.ts';
import { printTable, quickMode, type Cell } from '../lib/stats.ts';
import {
  MB,
  preferredKind,
  startGatewayProcess,
  startTokenService,
  statsOf,
  userWithLogin,
  type RunningTokenService,
} from '../lib/services.ts';

interface Case {
  name: string;
  path: string;
  /** Who sends: the client (progress seen here) or the upstream (progress asked of its process). */
  sender: 'client' | 'upstream';
  messageBytes: number;
}

// The sink cases last: their relays stay until WEBSOCKET_STALL_TIMEOUT (the upstream never reads).
const CASES: Case[] = [
  { name: 'client sends, never reads; echo upstream', path: '/echo/ws', sender: 'client', messageBytes: 64 * 1024 },
  { name: 'upstream sends; client never reads', path: '/flood/ws', sender: 'upstream', messageBytes: 64 * 1024 },
  { name: 'client sends; upstream never reads', path: '/sink/ws', sender: 'client', messageBytes: 64 * 1024 },
  { name: 'client sends 64-byte messages; upstream never reads', path: '/sink/ws', sender: 'client', messageBytes: 64 },
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
    const route = (id: string, upstream: string) => ({
      id,
      prefix: `/${id}`,
      upstream,
      auth: 'required',
      audience: 'whoami',
      websocket: true,
    });
    const gateway = await startGatewayProcess(token.url, echo.url, {
      config: { routes: { routes: [route('echo', echo.url), route('sink', sink.url), route('flood', flooder.url)] } as RoutesFileInput },
    });
    hosts.push(gateway.host);
    const { tokens } = await userWithLogin(token.url);

    for (const benchCase of CASES) {
      // Tiny messages cost the sender far more time per byte.
      const caseBytes = benchCase.messageBytes < 1024 ? totalBytes / 4 : totalBytes;
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
          if (benchCase.sender === 'client') sending = flood(socket, caseBytes, benchCase.messageBytes);
          resolve();
        });
        socket.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      });
      let upstreamFlushed = 0;
      const progress = () => (sending ? sending.flushed : upstreamFlushed);
      let peakRss = before.rss;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          peakRss = Math.max(peakRss, (await statsOf(gateway.host)).rss);
          if (benchCase.sender === 'upstream') upstreamFlushed = await flooder.host.call<number>('webSocketFloodProgress');
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      })();
      const started = performance.now();
      await untilStalled(progress, () => progress() >= caseBytes, 1000, 120_000);
      const seconds = (performance.now() - started) / 1000;
      const stalled = await statsOf(gateway.host, true);
      sampling = false;
      await sampler;
      socket.terminate();
      rows.push([
        benchCase.name,
        caseBytes / MB,
        progress() / MB,
        seconds,
        before.arrayBuffers / MB,
        stalled.arrayBuffers / MB,
        before.rss / MB,
        peakRss / MB,
        (peakRss - before.rss) / MB,
        before.heapUsed / MB,
        stalled.heapUsed / MB,
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
    [
      'case',
      'to send',
      'sent',
      's',
      'buffers before',
      'buffers stalled',
      'RSS before',
      'RSS peak',
      'RSS growth',
      'heap before',
      'heap stalled',
    ],
    rows,
  );
}

// WebSocket peers for gateway tests: an upstream that can hold handshakes and
// records what reaches it, a client helper that reports how its handshake
// ended, and a well-behaved flooder (it never queues more than FLOOD_QUEUE
// bytes itself, so the test process's own memory stays small and a sender that
// the gateway pushes back on visibly stalls).
import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';

/** What the upstream side of one relayed socket saw. */
export interface UpstreamConnection {
  socket: WebSocket;
  headers: IncomingMessage['headers'];
  messages: number;
  bytes: number;
  /** Resolves with the close code and reason the upstream received. */
  closed: Promise<[number, string]>;
}

export interface HeldHandshake {
  /** Lets the held handshake go on (the upstream then answers 101, if the gateway is still there). */
  release(): void;
}

export interface ProbeUpstream {
  url: string;
  connections: UpstreamConnection[];
  /** Upstream connections whose socket is still open. */
  readonly open: number;
  /** While true, each upgrade request is held until released (see nextUpgrade). */
  hold: boolean;
  /** Resolves when the next upgrade request has arrived (held, when `hold`). */
  nextUpgrade(): Promise<HeldHandshake>;
  close(): Promise<void>;
}

export interface ProbeOptions {
  /** Echo every message back (default false: just count). */
  echo?: boolean;
  /** Sent to each new connection at once. */
  hello?: string;
  /** Called with each new connection (e.g. to start flooding it, or pause it). */
  onConnection?(connection: UpstreamConnection): void;
}

export async function startProbeUpstream(options: ProbeOptions = {}): Promise<ProbeUpstream> {
  const server = http.createServer((_req, res) => res.writeHead(426).end());
  // The upstream itself accepts anything: the limits under test are the gateway's.
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 2 ** 30 });
  const connections: UpstreamConnection[] = [];
  const rawSockets = new Set<Socket>();
  let waiter: ((held: HeldHandshake) => void) | undefined;
  const probe: ProbeUpstream = {
    url: '',
    connections,
    get open() {
      return connections.filter((c) => c.socket.readyState !== WebSocket.CLOSED).length;
    },
    hold: false,
    nextUpgrade: () => new Promise((resolve) => (waiter = resolve)),
    async close() {
      for (const client of wss.clients) client.terminate();
      for (const socket of rawSockets) socket.destroy();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  server.on('connection', (socket) => {
    rawSockets.add(socket);
    socket.on('close', () => rawSockets.delete(socket));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    const complete = () =>
      wss.handleUpgrade(req, socket, head, (ws) => {
        const connection: UpstreamConnection = {
          socket: ws,
          headers: req.headers,
          messages: 0,
          bytes: 0,
          closed: new Promise((resolve) => ws.once('close', (code, reason) => resolve([code, reason.toString()]))),
        };
        connections.push(connection);
        ws.on('error', () => undefined);
        ws.on('message', (data: RawData, isBinary) => {
          connection.messages += 1;
          connection.bytes += (data as Buffer).length;
          if (options.echo) ws.send(data, { binary: isBinary });
        });
        if (options.hello) ws.send(options.hello);
        options.onConnection?.(connection);
      });
    const notify = waiter;
    waiter = undefined;
    if (!probe.hold) {
      complete();
      notify?.({ release: () => undefined });
      return;
    }
    notify?.({ release: complete });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  probe.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return probe;
}

/** How a client's opening handshake ended, and what it saw afterwards. */
export interface ClientOutcome {
  socket: WebSocket;
  /** 101, or the HTTP status of the refusal. */
  status: Promise<number>;
  /** The first messages the client received (up to 100). */
  messages: string[];
  /** Close code and reason, once closed (after a 101). */
  closed: Promise<[number, string]>;
}

export function connectClient(url: string, token: string | undefined, onOpen?: (socket: WebSocket) => void): ClientOutcome {
  const socket = new WebSocket(url, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
    perMessageDeflate: false,
    maxPayload: 2 ** 30,
  });
  socket.on('error', () => undefined);
  const messages: string[] = [];
  socket.on('message', (data: RawData) => {
    if (messages.length < 100) messages.push(data.toString());
  });
  const status = new Promise<number>((resolve) => {
    socket.once('unexpected-response', (_req, response: IncomingMessage) => {
      response.resume();
      resolve(response.statusCode ?? 0);
      socket.terminate();
    });
    socket.once('open', () => {
      resolve(101);
      onOpen?.(socket);
    });
    socket.once('close', () => resolve(-1));
  });
  const closed = new Promise<[number, string]>((resolve) => socket.once('close', (code, reason) => resolve([code, reason.toString()])));
  return { socket, status, messages, closed };
}

/** The sender's own queue stays under this: beyond it, it waits for its socket to drain. */
export const FLOOD_QUEUE = 256 * 1024;

export interface Flood {
  /** Bytes handed to the kernel so far (send callbacks that completed). */
  readonly flushed: number;
  /** Resolves when all was flushed; never, while pushed back. */
  done: Promise<void>;
}

/**
 * Sends `totalBytes` in messages of `messageBytes`, each starting with its sequence number
 * (4 bytes, big-endian), without ever queueing more than FLOOD_QUEUE itself.
 */
export function flood(socket: WebSocket, totalBytes: number, messageBytes: number): Flood {
  const state = { sent: 0, flushed: 0, seq: 0 };
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const pump = () => {
    while (state.sent < totalBytes && socket.readyState === WebSocket.OPEN && socket.bufferedAmount < FLOOD_QUEUE) {
      const size = Math.min(messageBytes, totalBytes - state.sent);
      const message = Buffer.alloc(size, state.seq & 0xff);
      message.writeUInt32BE(state.seq, 0);
      state.seq += 1;
      state.sent += size;
      socket.send(message, { binary: true }, (error) => {
        if (error) return;
        state.flushed += size;
        if (state.flushed >= totalBytes) finish();
        else setImmediate(pump);
      });
    }
  };
  pump();
  return {
    get flushed() {
      return state.flushed;
    },
    done,
  };
}

/** Counts received flood bytes and checks that messages arrive whole, in order, none missing. */
export function floodReceiver(socket: WebSocket): { readonly bytes: number; readonly inOrder: boolean } {
  const state = { bytes: 0, next: 0, inOrder: true };
  socket.on('message', (data: RawData) => {
    const message = data as Buffer;
    if (message.readUInt32BE(0) !== state.next || message[message.length - 1] !== (state.next & 0xff)) state.inOrder = false;
    state.next += 1;
    state.bytes += message.length;
  });
  return {
    get bytes() {
      return state.bytes;
    },
    get inOrder() {
      return state.inOrder;
    },
  };
}

/** Resolves once `progress()` has not changed for `quietMs` (a pushed-back sender), or `settled()` holds. */
export async function untilStalled(progress: () => number, settled: () => boolean, quietMs = 300, boundMs = 20_000): Promise<void> {
  const deadline = Date.now() + boundMs;
  let last = progress();
  let since = Date.now();
  while (!settled()) {
    if (Date.now() > deadline) throw new Error(`still making progress after ${boundMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const now = progress();
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return;
    }
  }
}

/** Samples a value every few ms until stopped; `max` is the largest seen. */
export function sampleMax(read: () => number, everyMs = 2): { readonly max: number; stop(): void } {
  let max = read();
  const timer = setInterval(() => (max = Math.max(max, read())), everyMs);
  return {
    get max() {
      return max;
    },
    stop: () => clearInterval(timer),
  };
}

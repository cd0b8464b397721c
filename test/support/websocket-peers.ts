// WebSocket peers for gateway tests: an upstream that can hold handshakes and
// records what reaches it, and a client helper that reports how its handshake
// ended.
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
  const socket = new WebSocket(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, perMessageDeflate: false, maxPayload: 2 ** 30 });
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

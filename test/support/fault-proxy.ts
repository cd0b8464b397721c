// A TCP proxy that tests can cut and heal, to break a connection without
// touching the system (no firewall rules, no killed processes).
import net from 'node:net';

export interface FaultProxy {
  url: string;
  port: number;
  /** Drops every open connection and refuses new ones until healed. */
  cut(): void;
  /**
   * A partition rather than a reset: open connections stay open but nothing
   * crosses them any more, and new ones are accepted but lead nowhere.
   */
  stall(): void;
  heal(): void;
  readonly connections: number;
  close(): Promise<void>;
}

export async function startFaultProxy(target: { host: string; port: number }, listenPort = 0): Promise<FaultProxy> {
  const open = new Set<net.Socket>();
  const stalledSockets = new Set<net.Socket>();
  const pairs = new Set<[net.Socket, net.Socket]>();
  let broken = false;
  let stalled = false;
  const server = net.createServer((client) => {
    if (broken) {
      client.destroy();
      return;
    }
    if (stalled) {
      client.on('error', () => undefined);
      client.pause();
      stalledSockets.add(client);
      return;
    }
    const upstream = net.connect(target.port, target.host);
    open.add(client);
    open.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    client.once('close', () => pairs.delete(pair));
  });
  await new Promise<void>((resolve) => server.listen(listenPort, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    cut() {
      broken = true;
      for (const socket of open) socket.destroy();
      open.clear();
    },
    stall() {
      stalled = true;
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    heal() {
      broken = false;
      stalled = false;
      // Connections caught in the stall stay dead, as after a real partition.
      for (const socket of stalledSockets) socket.destroy();
      stalledSockets.clear();
    },
    get connections() {
      return open.size;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of [...open, ...stalledSockets]) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port that is free right now (for services that must know their URL before listening). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

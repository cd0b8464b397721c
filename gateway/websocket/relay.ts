// WebSockets are terminated at the gateway and relayed message by message with
// the `ws` library, instead of piping raw bytes (as http-proxy's proxy.ws did).
// Why: closing a revoked session's socket needs a proper close frame (1008).
// With raw piping the gateway cannot know where upstream frames begin and end,
// so a close frame written into the byte stream could land in the middle of a
// frame and corrupt it. Terminating both legs also lets the upstream's refusal
// or absence be answered with a real HTTP status (502/504) before the client's
// handshake completes, and lets the gateway stop relaying the instant a session
// is revoked.
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import type { Logger } from '../../common/logger.ts';
import type { AccessTokenClaims } from '../tokens/claims.ts';
import { reject, writeRejectionToSocket } from '../pipeline/rejection.ts';
import type { SocketRegistry } from './socket-registry.ts';

export interface RelayTarget {
  routeId: string;
  /** ws:// or wss:// URL of the upstream endpoint. */
  url: string;
  headers: OutgoingHttpHeaders;
  claims: AccessTokenClaims | undefined;
  handshakeTimeoutMs: number;
  requestId: string;
}

export interface RelayedSocket {
  readonly routeId: string;
  readonly claims: AccessTokenClaims | undefined;
  readonly client: WebSocket;
  readonly upstream: WebSocket;
  /** Closes both legs; nothing is relayed after this call. */
  close(code: number, reason: string): void;
}

/** Codes an endpoint may put in a close frame (RFC 6455 §7.4); others (1005, 1006, 1015) are stand-ins. */
function sendableCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

function closeLeg(socket: WebSocket, code: number, reason: Buffer | string): void {
  if (socket.readyState === WebSocket.CLOSED || socket.readyState === WebSocket.CLOSING) return;
  if (socket.readyState === WebSocket.CONNECTING) return socket.terminate();
  if (sendableCode(code)) socket.close(code, reason);
  else socket.close();
}

export class WebSocketRelay {
  readonly #server: WebSocketServer;
  /** The subprotocol the upstream picked, per pending client handshake. */
  readonly #chosenProtocol = new WeakMap<IncomingMessage, string>();
  readonly #registry: SocketRegistry;
  readonly #logger: Logger;

  constructor(registry: SocketRegistry, logger: Logger) {
    this.#registry = registry;
    this.#logger = logger;
    this.#server = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      handleProtocols: (_offered, request) => this.#chosenProtocol.get(request) || false,
    });
  }

  /** Opens the upstream leg first; only when it is up is the client's handshake completed. */
  open(req: IncomingMessage, socket: Duplex, head: Buffer, target: RelayTarget): void {
    const offered = String(req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean);
    const upstream = new WebSocket(target.url, offered, {
      headers: target.headers as Record<string, string>,
      perMessageDeflate: false,
      handshakeTimeout: target.handshakeTimeoutMs,
      followRedirects: false,
    });
    let settled = false;
    let upgraded = false;
    // Until the client's handshake has completed, a client that leaves (or a handshake
    // that ws refuses, e.g. a bad Sec-WebSocket-Key) must not leave the upstream leg open.
    const abandon = () => {
      if (!upgraded) upstream.terminate();
    };
    socket.once('close', abandon);

    upstream.once('unexpected-response', (_request, response) => {
      settled = true;
      response.resume();
      writeRejectionToSocket(socket, reject(502, 'bad_gateway', `upstream refused the WebSocket upgrade (${response.statusCode})`));
      upstream.terminate();
    });
    upstream.once('error', (error: Error) => {
      if (settled) return;
      settled = true;
      const timedOut = /handshake has timed out/i.test(error.message);
      this.#logger.warn({ route: target.routeId, err: error.message }, 'upstream WebSocket failed');
      writeRejectionToSocket(
        socket,
        timedOut ? reject(504, 'upstream_timeout', 'upstream did not complete the WebSocket handshake') : reject(502, 'bad_gateway', 'upstream unavailable'),
      );
    });
    upstream.once('open', () => {
      settled = true;
      if (socket.destroyed) return upstream.terminate();
      if (upstream.protocol) this.#chosenProtocol.set(req, upstream.protocol);
      this.#server.handleUpgrade(req, socket, head, (client) => {
        upgraded = true;
        socket.off('close', abandon);
        this.#relay(client, upstream, target);
      });
    });
  }

  /** Closes every relayed socket (gateway shutdown). */
  closeAll(code: number, reason: string): void {
    for (const relayed of this.#registry.all()) relayed.close(code, reason);
  }

  close(): void {
    this.#server.close();
  }

  #relay(client: WebSocket, upstream: WebSocket, target: RelayTarget): void {
    let closed = false;
    const relayed: RelayedSocket = {
      routeId: target.routeId,
      claims: target.claims,
      client,
      upstream,
      close: (code, reason) => {
        if (closed) return;
        closed = true;
        this.#registry.remove(relayed);
        closeLeg(client, code, reason);
        closeLeg(upstream, code, reason);
        // A peer that never answers the close frame is cut off (ws's own timer is 30 s).
        setTimeout(() => {
          client.terminate();
          upstream.terminate();
        }, 2000).unref();
      },
    };
    this.#registry.add(relayed);
    const forward = (to: WebSocket) => (data: RawData, isBinary: boolean) => {
      if (!closed && to.readyState === WebSocket.OPEN) to.send(data, { binary: isBinary });
    };
    client.on('message', forward(upstream));
    upstream.on('message', forward(client));
    const onLegClosed = (other: WebSocket) => (code: number, reason: Buffer) => {
      if (!closed) {
        closed = true;
        this.#registry.remove(relayed);
        closeLeg(other, code, reason);
      }
    };
    client.on('close', onLegClosed(upstream));
    upstream.on('close', onLegClosed(client));
    const onError = (leg: string) => (error: Error) => {
      this.#logger.debug({ route: target.routeId, leg, err: error.message }, 'WebSocket leg error');
      client.terminate();
      upstream.terminate();
    };
    client.on('error', onError('client'));
    upstream.on('error', onError('upstream'));
    this.#logger.info({ requestId: target.requestId, route: target.routeId, subject: target.claims?.sub }, 'WebSocket opened');
  }
}

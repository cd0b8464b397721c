// WebSockets are terminated at the gateway and relayed message by message with
// the `ws` library, instead of piping raw bytes (as http-proxy's proxy.ws did).
// Why: closing a revoked session's socket needs a proper close frame (1008).
// With raw piping the gateway cannot know where upstream frames begin and end,
// so a close frame written into the byte stream could land in the middle of a
// frame and corrupt it. Terminating both legs also lets the upstream's refusal
// or absence be answered with a real HTTP status (502/504) before the client's
// handshake completes, and lets the gateway stop relaying the instant a session
// is revoked.
//
// A relayed socket is registered (so revocations and expiry reach it) from the
// moment the upstream leg is dialled, not from when it is open: a revocation
// that arrives while the upstream is still answering refuses the client's
// handshake (401) instead of letting it complete. Both legs are capped at
// maxMessageBytes (1009 beyond it) and relayed with bounded buffering
// (flow-control.ts).
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { Logger } from '../../common/logger.ts';
import type { VerifiedClaims } from '../tokens/claims.ts';
import { invalidToken, reject, temporarilyUnavailable, writeRejectionToSocket, type Rejection } from '../pipeline/rejection.ts';
import { relayMessages, type RelayDirection } from './flow-control.ts';
import { POLICY_VIOLATION, type SocketRegistry } from './socket-registry.ts';
import { ExpiryTimer, tokenDeadlineMs } from './token-expiry.ts';

const MESSAGE_TOO_BIG = 1009;
const INTERNAL_ERROR = 1011;
/** IANA-registered: the server cannot serve this connection now. */
const TRY_AGAIN_LATER = 1013;
/** A peer that never answers our close frame is cut off after this (ws's own timer is 30 s). */
const CLOSE_HANDSHAKE_MS = 2000;

export interface RelayOptions {
  logger: Logger;
  /** Largest message accepted from either leg; a bigger one closes the socket with 1009. */
  maxMessageBytes: number;
  /** The verifier's clock tolerance: a socket lives as long as its token would be accepted. */
  clockToleranceMs: number;
  /** A direction backed up with nothing written out for this long ends the relay (1013). */
  stallTimeoutMs: number;
}

export interface RelayTarget {
  routeId: string;
  /** ws:// or wss:// URL of the upstream endpoint. */
  url: string;
  headers: OutgoingHttpHeaders;
  claims: VerifiedClaims | undefined;
  handshakeTimeoutMs: number;
  requestId: string;
  /**
   * Asked again once the upstream has accepted, just before the client's handshake is
   * completed: a refusal when the token has been revoked since the policy let it in.
   */
  recheck(): Rejection | undefined;
  /** Told how the client's handshake ended: 101, the refusal's status, or 499 (client left). */
  onHandshake?(status: number): void;
  /**
   * A cookie session's socket: when its token expires, a renewed one (same subject and
   * session) keeps it open; undefined (the session ended) closes it. Bearer sockets have none.
   */
  renewToken?(): Promise<VerifiedClaims | undefined>;
}

export type RelayState = 'connecting' | 'open' | 'closed';

export interface RelayedSocket {
  readonly routeId: string;
  /** The token the socket lives on; undefined for anonymous sockets (never revoked, never expire). */
  readonly claims: VerifiedClaims | undefined;
  /** `connecting` until the client's handshake has completed. */
  readonly state: RelayState;
  /** The client leg, once its handshake has completed. */
  readonly client: WebSocket | undefined;
  readonly upstream: WebSocket;
  /**
   * Ends the relay; nothing is relayed after this call. Before the client's handshake
   * has completed it is refused instead: 401 invalid_token for 1008, else 503.
   */
  close(code: number, reason: string): void;
  /**
   * Moves the socket onto a fresher token of the same subject and session (a renewed
   * browser session): revocations are then matched, and expiry timed, against it. The
   * caller has run the policy (revocation included) on the new token.
   */
  renew(claims: VerifiedClaims): void;
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

/** What a client whose handshake has not completed gets instead of a close frame. */
function refusalFor(code: number, reason: string): Rejection {
  if (code === POLICY_VIOLATION) return invalidToken(reason);
  return temporarilyUnavailable(reason);
}

/**
 * How the other leg learns why one leg failed. ws has already answered the failing leg
 * (1009 for a message over maxPayload, 1002 or 1007 for protocol errors).
 */
function closeCodeForPeerOf(error: Error): [number, string] {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return [MESSAGE_TOO_BIG, 'message too big'];
  return [INTERNAL_ERROR, 'the other side failed'];
}

export class WebSocketRelay {
  readonly #server: WebSocketServer;
  /** The subprotocol the upstream picked, per pending client handshake. */
  readonly #chosenProtocol = new WeakMap<IncomingMessage, string>();
  readonly #registry: SocketRegistry;
  readonly #options: RelayOptions;

  constructor(registry: SocketRegistry, options: RelayOptions) {
    this.#registry = registry;
    this.#options = options;
    this.#server = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: options.maxMessageBytes,
      handleProtocols: (_offered, request) => this.#chosenProtocol.get(request) || false,
    });
  }

  /** Opens the upstream leg first; only when it is up (and the token still good) is the client's handshake completed. */
  open(req: IncomingMessage, socket: Duplex, head: Buffer, target: RelayTarget): RelayedSocket {
    const offered = String(req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean);
    const upstream = new WebSocket(target.url, offered, {
      headers: target.headers as Record<string, string>,
      perMessageDeflate: false,
      handshakeTimeout: target.handshakeTimeoutMs,
      followRedirects: false,
      maxPayload: this.#options.maxMessageBytes,
    });
    return new Relay(req, socket, head, upstream, target, {
      ...this.#options,
      registry: this.#registry,
      completeHandshake: (request, raw, data, onUpgraded) => {
        if (upstream.protocol) this.#chosenProtocol.set(request, upstream.protocol);
        this.#server.handleUpgrade(request, raw, data, onUpgraded);
      },
    });
  }

  /** Closes every relayed socket, and refuses every handshake still in progress (gateway shutdown). */
  closeAll(code: number, reason: string): void {
    for (const relayed of this.#registry.all()) relayed.close(code, reason);
  }

  close(): void {
    this.#server.close();
  }
}

interface RelayWiring extends RelayOptions {
  registry: SocketRegistry;
  completeHandshake(req: IncomingMessage, socket: Duplex, head: Buffer, onUpgraded: (client: WebSocket) => void): void;
}

class Relay implements RelayedSocket {
  readonly routeId: string;
  readonly upstream: WebSocket;
  client: WebSocket | undefined;
  #claims: VerifiedClaims | undefined;
  #state: RelayState = 'connecting';
  /**
   * ws is completing the client's handshake (synchronously today; an async step such as
   * verifyClient would open a window): a close requested meanwhile is applied the moment
   * the client leg exists, before anything is relayed.
   */
  #upgrading = false;
  #closeAfterUpgrade: [number, string] | undefined;
  #directions: RelayDirection[] = [];
  readonly #socket: Duplex;
  readonly #target: RelayTarget;
  readonly #wiring: RelayWiring;
  readonly #expiry: ExpiryTimer;

  constructor(req: IncomingMessage, socket: Duplex, head: Buffer, upstream: WebSocket, target: RelayTarget, wiring: RelayWiring) {
    this.routeId = target.routeId;
    this.upstream = upstream;
    this.#claims = target.claims;
    this.#socket = socket;
    this.#target = target;
    this.#wiring = wiring;
    this.#expiry = new ExpiryTimer(() => {
      if (!target.renewToken) return this.close(POLICY_VIOLATION, 'token expired');
      target.renewToken().then(
        (claims) => (claims && this.#renewable(claims) ? this.renew(claims) : this.close(POLICY_VIOLATION, 'session ended')),
        () => this.close(POLICY_VIOLATION, 'session ended'),
      );
    });
    // Registered before the upstream answers, so that a revocation or expiry meanwhile refuses the handshake.
    wiring.registry.add(this);
    if (this.#claims) this.#expiry.arm(tokenDeadlineMs(this.#claims.exp, wiring.clockToleranceMs));

    // A client that leaves before its handshake has completed (or whose handshake ws
    // refuses) must not leave the upstream leg open.
    const abandon = () => {
      if (this.#state !== 'connecting') return;
      this.#finish(499);
      upstream.terminate();
    };
    socket.once('close', abandon);

    upstream.once('unexpected-response', (_request, response) => {
      response.resume();
      this.#refuse(reject(502, 'bad_gateway', `upstream refused the WebSocket upgrade (${response.statusCode})`));
    });
    upstream.once('error', (error: Error) => {
      if (this.#state !== 'connecting') return;
      const timedOut = /handshake has timed out/i.test(error.message);
      wiring.logger.warn({ route: target.routeId, err: error.message }, 'upstream WebSocket failed');
      this.#refuse(
        timedOut
          ? reject(504, 'upstream_timeout', 'upstream did not complete the WebSocket handshake')
          : reject(502, 'bad_gateway', 'upstream unavailable'),
      );
    });
    upstream.once('open', () => {
      if (this.#state !== 'connecting') return upstream.terminate();
      if (socket.destroyed) return abandon();
      // The token may have been revoked while the upstream was answering.
      const refusal = target.recheck();
      if (refusal) return this.#refuse(refusal);
      this.#upgrading = true;
      wiring.completeHandshake(req, socket, head, (client) => {
        this.#upgrading = false;
        socket.off('close', abandon);
        this.client = client;
        this.#state = 'open';
        target.onHandshake?.(101);
        this.#relay(client);
        if (this.#closeAfterUpgrade) this.close(...this.#closeAfterUpgrade);
      });
    });
  }

  get claims(): VerifiedClaims | undefined {
    return this.#claims;
  }

  get state(): RelayState {
    return this.#state;
  }

  close(code: number, reason: string): void {
    if (this.#state === 'closed') return;
    if (this.#state === 'connecting') {
      if (this.#upgrading) this.#closeAfterUpgrade = [code, reason];
      else this.#refuse(refusalFor(code, reason));
      return;
    }
    this.#finish();
    const { client, upstream } = this;
    for (const leg of [client, upstream]) {
      if (!leg) continue;
      closeLeg(leg, code, reason);
      // A leg paused for backpressure must still read its peer's close frame.
      leg.resume();
    }
    setTimeout(() => {
      client?.terminate();
      upstream.terminate();
    }, CLOSE_HANDSHAKE_MS).unref();
  }

  /** A socket moves only onto a token of its own subject and session. */
  #renewable(claims: VerifiedClaims): boolean {
    const current = this.#claims;
    return current !== undefined && claims.sub === current.sub && claims.sid === current.sid;
  }

  renew(claims: VerifiedClaims): void {
    if (!this.#renewable(claims)) throw new Error('a relayed socket can only be renewed with a token of its own subject and session');
    if (this.#state === 'closed') return;
    this.#wiring.registry.remove(this);
    this.#claims = claims;
    this.#wiring.registry.add(this);
    this.#expiry.arm(tokenDeadlineMs(claims.exp, this.#wiring.clockToleranceMs));
  }

  /** Leaves the registry and stops the expiry timer; `status` is the handshake's, if it never completed. */
  #finish(status?: number): void {
    this.#state = 'closed';
    this.#wiring.registry.remove(this);
    this.#expiry.cancel();
    for (const direction of this.#directions) direction.stop();
    if (status !== undefined) this.#target.onHandshake?.(status);
  }

  /** The client's handshake will not complete: answer it with an HTTP error and drop the upstream leg. */
  #refuse(rejection: Rejection): void {
    if (this.#state !== 'connecting') return;
    this.#finish(rejection.status);
    this.upstream.terminate();
    writeRejectionToSocket(this.#socket, rejection, { 'x-request-id': this.#target.requestId });
  }

  #relay(client: WebSocket): void {
    const { upstream } = this;
    const target = this.#target;
    const flow = {
      relaying: () => this.#state === 'open',
      stallTimeoutMs: this.#wiring.stallTimeoutMs,
      // A peer that reads nothing (or has left unnoticed: a paused leg is not read) must not hold its buffers for ever.
      onStalled: () => this.close(TRY_AGAIN_LATER, 'peer not reading'),
    };
    this.#directions = [relayMessages(client, upstream, flow), relayMessages(upstream, client, flow)];
    const onLegClosed = (code: number, reason: Buffer) => this.close(code, reason.toString());
    client.on('close', onLegClosed);
    upstream.on('close', onLegClosed);
    const onError = (leg: WebSocket, name: string) => (error: Error) => {
      this.#wiring.logger.debug({ route: target.routeId, leg: name, err: error.message }, 'WebSocket leg error');
      // ws has already started closing the failing leg with the right code (1009 for a
      // message over the limit); the other leg is told why.
      if (leg.readyState === WebSocket.CLOSING) return this.close(...closeCodeForPeerOf(error));
      client.terminate();
      upstream.terminate();
    };
    client.on('error', onError(client, 'client'));
    upstream.on('error', onError(upstream, 'upstream'));
    this.#wiring.logger.info({ requestId: target.requestId, route: target.routeId, subject: this.#claims?.sub }, 'WebSocket opened');
  }
}

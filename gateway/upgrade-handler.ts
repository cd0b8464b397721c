// WebSocket upgrades. The opening handshake is checked (RFC 6455 §4.1), the
// request admitted like any other (pipeline/admission.ts), and the socket handed
// to the relay (websocket/relay.ts), which opens the upstream leg first and asks
// the revocation stage again when the upstream answers. A refused upgrade gets
// an HTTP error on the raw socket, which then closes.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../common/logger.ts';
import { admit, recheckRevocation, type AdmissionDependencies } from './pipeline/admission.ts';
import { parseRequestTarget, upstreamUrl } from './pipeline/match-route.ts';
import { requestIdFor } from './pipeline/mutate-headers.ts';
import { reject, writeRejectionToSocket, type Rejection } from './pipeline/rejection.ts';
import type { Route } from './routes/schema.ts';
import type { Session } from './sessions/cookie-sessions.ts';
import type { WebSocketRelay } from './websocket/relay.ts';

export interface UpgradeHandlerDependencies {
  admission: AdmissionDependencies;
  relay: Pick<WebSocketRelay, 'open'>;
  accessLog: Logger;
  logger: Logger;
  /** How long an upstream may take to answer the handshake, unless its route says otherwise. */
  upstreamTimeoutMs: number;
}

const WEBSOCKET_KEY = /^[+/0-9A-Za-z]{22}==$/;

export function createUpgradeHandler(deps: UpgradeHandlerDependencies): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const { admission, relay, accessLog, logger, upstreamTimeoutMs } = deps;

  async function handle(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    try {
      const requestId = requestIdFor(req.headers['x-request-id']);
      const target = parseRequestTarget(req.url);
      const refuse = (rejection: Rejection, route?: Route, sessionEnded = false) => {
        accessLog.info({ requestId, method: 'UPGRADE', path: target?.path, route: route?.id, status: rejection.status });
        const headers: Record<string, string> = { 'x-request-id': requestId };
        // As for any request: a cookie session that has ended loses its cookie.
        const sessions = admission.sessions?.sessions;
        if (sessionEnded && sessions) headers['set-cookie'] = sessions.clearCookie();
        writeRejectionToSocket(socket, rejection, headers, { head: req.method === 'HEAD' });
      };
      // RFC 6455 §4.1: the opening handshake is a GET.
      if (!target || req.method !== 'GET' || String(req.headers.upgrade).toLowerCase() !== 'websocket') {
        return refuse(reject(400, 'invalid_request', 'only WebSocket upgrades are supported'));
      }
      // Checked before anything is opened upstream (ws would refuse these handshakes later anyway).
      if (!WEBSOCKET_KEY.test(String(req.headers['sec-websocket-key'])) || req.headers['sec-websocket-version'] !== '13') {
        return refuse(reject(400, 'invalid_request', 'malformed WebSocket handshake'));
      }
      const decision = await admit(admission, req, target, requestId, true);
      if (decision.kind === 'reject') return refuse(decision.rejection, decision.route, decision.sessionEnded);
      if (socket.destroyed) return;
      const { route, claims } = decision;
      let session = decision.session;
      const sessions = admission.sessions?.sessions;
      relay.open(req, socket, head, {
        // A cookie session's socket lives as long as the session, across its token's renewals.
        renewToken:
          session && sessions
            ? async () => {
                session = await sessions.refresh(session as Session);
                const renewed = await admission.verifier.claimsOf(session.accessToken);
                return recheckRevocation(admission, renewed) ? undefined : renewed;
              }
            : undefined,
        routeId: route.id,
        url: upstreamUrl(route, decision.path, true).href,
        headers: decision.headers,
        claims,
        handshakeTimeoutMs: route.timeoutMs ?? upstreamTimeoutMs,
        requestId,
        recheck: () => recheckRevocation(admission, claims),
        onHandshake: (status) =>
          accessLog.info({ requestId, method: 'UPGRADE', path: target.path, route: route.id, status, subject: claims?.sub }),
      });
    } catch (error) {
      logger.error({ err: error }, 'upgrade handling failed');
      writeRejectionToSocket(socket, reject(500, 'server_error', 'internal error'));
    }
  }

  return (req, socket, head) => {
    // Node hands the raw socket over without an error listener; a reset must not crash us.
    socket.on('error', (error) => logger.debug({ err: error.message }, 'upgrade socket error'));
    void handle(req, socket, head);
  };
}

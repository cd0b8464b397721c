// Stage 5: the headers the upstream sees. Upstreams trust X-Auth-* blindly, so
// whatever the client sent under those names (and X-User-*, X-Forwarded-*,
// Forwarded, X-Real-IP) is dropped, then the gateway writes its own values.
// Hop-by-hop headers are not forwarded (RFC 9110 §7.6.1).
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { Route } from '../routes/schema.ts';
import type { AccessTokenClaims } from '../tokens/claims.ts';

const IDENTITY_OR_FORWARDING = /^(x-auth-|x-user-|x-forwarded-)/;
const DROPPED = new Set([
  'forwarded',
  'x-real-ip',
  'x-request-id',
  // hop-by-hop
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'trailer',
  'upgrade',
  // Node already answered 100-continue to the client; the upstream gets the body straight away.
  'expect',
]);
// The WebSocket handshake is redone towards the upstream by the ws client.
const WEBSOCKET_HANDSHAKE = new Set(['sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'sec-websocket-protocol', 'host']);

const VALID_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/** Keeps a well-formed incoming X-Request-Id (so traces join up), otherwise makes one. */
export function requestIdFor(incoming: string | string[] | undefined): string {
  return typeof incoming === 'string' && VALID_REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

export interface HeaderContext {
  route: Route;
  claims: AccessTokenClaims | undefined;
  requestId: string;
  /** The TCP peer, i.e. the client: nothing in front of the gateway is trusted. */
  remoteAddress: string | undefined;
  encrypted: boolean;
  /** True for a WebSocket upgrade, whose handshake headers the ws client writes itself. */
  websocket?: boolean;
}

export function mutateHeaders(incoming: IncomingHttpHeaders, context: HeaderContext): OutgoingHttpHeaders {
  const listedInConnection = new Set(
    String(incoming.connection ?? '')
      .split(',')
      .map((name) => name.trim().toLowerCase())
      .filter(Boolean),
  );
  const outgoing: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined) continue;
    if (IDENTITY_OR_FORWARDING.test(name) || DROPPED.has(name) || listedInConnection.has(name)) continue;
    if (context.websocket && WEBSOCKET_HANDSHAKE.has(name)) continue;
    if (name === 'authorization' && !context.route.forwardAuthorization) continue;
    outgoing[name] = value;
  }

  outgoing['x-request-id'] = context.requestId;
  if (context.remoteAddress) outgoing['x-forwarded-for'] = context.remoteAddress;
  outgoing['x-forwarded-proto'] = context.encrypted ? 'https' : 'http';
  if (typeof incoming.host === 'string') outgoing['x-forwarded-host'] = incoming.host;

  const { claims } = context;
  if (claims) {
    outgoing['x-auth-subject'] = claims.sub;
    outgoing['x-auth-scopes'] = claims.scopes.join(' ');
    outgoing['x-auth-session'] = claims.sid;
    if (claims.clientId !== undefined) outgoing['x-auth-client'] = claims.clientId;
  }
  return outgoing;
}

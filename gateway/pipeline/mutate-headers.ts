// Stage 6: the headers the upstream sees. Upstreams trust X-Auth-* blindly, so
// whatever the client sent that an upstream could take for identity or
// forwarding information is dropped, then the gateway writes its own values.
//
// Names are compared normalised: lower-case with `_` read as `-`, because
// CGI, WSGI, PHP and Rack map `X_Auth_Subject`, `X-Auth_Subject` and
// `X-Auth-Subject` onto the same variable. Any header with `_` in its name is
// dropped unless the route allows them (as nginx does by default).
//
// Hop-by-hop headers (RFC 9110 §7.6.1) and the ones the client's Connection
// header names are not forwarded. Host and the framing headers
// (Content-Length, Transfer-Encoding) are never taken from the client's
// header map: the proxy sets Host from the upstream and frames the body
// itself (framing.ts), and identity headers are written after filtering, so
// a Connection header can neither remove nor add any of them.
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { IDENTITY_HEADERS } from '../../contract/identity-headers.ts';
import { normaliseHeaderName } from '../lib/header-names.ts';
import type { Route } from '../routes/schema.ts';
import type { VerifiedClaims } from '../tokens/claims.ts';

const IDENTITY_OR_FORWARDING_PREFIX = /^(x-auth|x-user|x-forwarded|x-authenticated)(-|$)/;

/** Dropped from every request, whatever the route says (names normalised). */
export const DEFAULT_STRIPPED_HEADERS: readonly string[] = [
  'forwarded',
  'x-real-ip',
  'x-client-ip',
  'true-client-ip',
  'x-cluster-client-ip',
  'remote-user',
  'x-remote-user',
  'x-user',
  'x-authenticated-user',
  'x-request-id',
];

/**
 * Routing and method overrides: an upstream that honours them would let a
 * client reach a path or method the route's rules never saw. Dropped unless
 * the route sets forward_override_headers.
 */
export const OVERRIDE_HEADERS: readonly string[] = [
  'x-original-url',
  'x-rewrite-url',
  'x-original-method',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
];

const HOP_BY_HOP_OR_OWNED = new Set([
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
  // Owned by the proxy: set from the upstream URL and from the framing Node parsed.
  'host',
  'content-length',
  'transfer-encoding',
]);
// The WebSocket handshake is redone towards the upstream by the ws client.
const WEBSOCKET_HANDSHAKE = new Set(['sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'sec-websocket-protocol']);

const VALID_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/** Keeps a well-formed incoming X-Request-Id (so traces join up), otherwise makes one. */
export function requestIdFor(incoming: string | string[] | undefined): string {
  return typeof incoming === 'string' && VALID_REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/** Whether a (normalised) header name could pass for identity or forwarding information. */
function isIdentityLike(normalised: string, stripped: ReadonlySet<string>): boolean {
  return IDENTITY_OR_FORWARDING_PREFIX.test(normalised) || stripped.has(normalised);
}

export interface HeaderContext {
  route: Route;
  claims: VerifiedClaims | undefined;
  requestId: string;
  /** The TCP peer, i.e. the client: nothing in front of the gateway is trusted. */
  remoteAddress: string | undefined;
  encrypted: boolean;
  /** Names stripped from every request (normalised): the defaults plus the operator's. */
  strippedHeaders: ReadonlySet<string>;
  /** True for a WebSocket upgrade, whose handshake headers the ws client writes itself. */
  websocket?: boolean;
  /** The signed identity assertion (assert-identity.ts), when the gateway sends one. */
  assertion?: string | undefined;
}

/** The stripped-header set for a gateway: the defaults plus GATEWAY_STRIP_HEADERS. */
export function strippedHeaderSet(extra: readonly string[] = []): ReadonlySet<string> {
  return new Set([...DEFAULT_STRIPPED_HEADERS, ...extra.map(normaliseHeaderName)]);
}

const OVERRIDES = new Set(OVERRIDE_HEADERS);

export function mutateHeaders(incoming: IncomingHttpHeaders, context: HeaderContext): OutgoingHttpHeaders {
  const { route, strippedHeaders } = context;
  let listedInConnection: Set<string> | undefined;
  if (incoming.connection !== undefined) {
    listedInConnection = new Set();
    for (const token of incoming.connection.split(',')) {
      const name = token.trim().toLowerCase();
      if (name) listedInConnection.add(name);
    }
  }
  const outgoing: OutgoingHttpHeaders = {};
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined) continue;
    // Node gives header names in lower case.
    if (HOP_BY_HOP_OR_OWNED.has(name) || listedInConnection?.has(name)) continue;
    const hasUnderscore = name.includes('_');
    if (hasUnderscore && !route.allowUnderscoreHeaders) continue;
    const normalised = hasUnderscore ? name.replaceAll('_', '-') : name;
    if (isIdentityLike(normalised, strippedHeaders) || route.stripHeaders.has(normalised)) continue;
    if (OVERRIDES.has(normalised) && !route.forwardOverrideHeaders) continue;
    if (context.websocket && WEBSOCKET_HANDSHAKE.has(name)) continue;
    if (name === 'authorization' && !route.forwardAuthorization) continue;
    outgoing[name] = value;
  }

  outgoing['x-request-id'] = context.requestId;
  if (context.remoteAddress) outgoing['x-forwarded-for'] = context.remoteAddress;
  outgoing['x-forwarded-proto'] = context.encrypted ? 'https' : 'http';
  if (typeof incoming.host === 'string') outgoing['x-forwarded-host'] = incoming.host;

  const { claims } = context;
  if (claims) {
    outgoing[IDENTITY_HEADERS.subject] = claims.sub;
    outgoing[IDENTITY_HEADERS.subjectType] = subjectType(claims);
    outgoing[IDENTITY_HEADERS.scopes] = claims.scopes.join(' ');
    outgoing[IDENTITY_HEADERS.session] = claims.sid;
    if (claims.clientId !== undefined) outgoing[IDENTITY_HEADERS.client] = claims.clientId;
    if (context.assertion !== undefined) outgoing[IDENTITY_HEADERS.assertion] = context.assertion;
  }
  return outgoing;
}

/**
 * RFC 9068 §2.2: a token obtained without a resource owner (client_credentials)
 * has the client's own id as `sub`. Client ids can never take the form of a
 * user id (docs/WIRE-CONTRACT.md), so the two kinds cannot be confused.
 */
export function subjectType(claims: Pick<VerifiedClaims, 'sub' | 'clientId'>): 'user' | 'client' {
  return claims.clientId !== undefined && claims.sub === claims.clientId ? 'client' : 'user';
}

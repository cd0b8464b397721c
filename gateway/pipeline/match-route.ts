// Stage 1: find the route for a request. The path is normalized first (dot
// segments resolved, repeated slashes collapsed) and the normalized path is what
// gets forwarded, so the gateway and the upstream always agree on what was asked
// for: `/public/../admin` is matched, and forwarded, as `/admin`.
import type { Route } from '../routes/schema.ts';

export interface RequestTarget {
  /** Normalized, still percent-encoded path. */
  path: string;
  /** Query string including the leading `?`, or ''. */
  search: string;
}

/** Parses an origin-form request target; undefined for absolute-form, `*` or garbage. */
export function parseRequestTarget(rawUrl: string | undefined): RequestTarget | undefined {
  if (!rawUrl || !rawUrl.startsWith('/')) return undefined;
  let url: URL;
  try {
    // Prefixing a fixed origin keeps `//evil/x` a path instead of a network-path reference.
    url = new URL(`http://gateway.invalid${rawUrl}`);
  } catch {
    return undefined;
  }
  if (url.host !== 'gateway.invalid') return undefined;
  return { path: url.pathname.replace(/\/{2,}/g, '/'), search: url.search };
}

/** Segment-aware prefix test: `/notes` covers `/notes` and `/notes/…`, `/notes/` covers `/notes/…`. */
export function pathHasPrefix(path: string, prefix: string): boolean {
  if (prefix === '/' || path === prefix) return true;
  if (!path.startsWith(prefix)) return false;
  return prefix.endsWith('/') || path[prefix.length] === '/';
}

/** Lower-case hostname of a Host header, without port (IPv6 brackets kept). */
export function hostnameOf(hostHeader: string | undefined): string | undefined {
  if (!hostHeader) return undefined;
  const host = hostHeader.trim().toLowerCase();
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1) || undefined;
  return host.split(':')[0] || undefined;
}

function allowsMethod(route: Route, method: string): boolean {
  if (!route.methods) return true;
  return route.methods.has(method) || (method === 'HEAD' && route.methods.has('GET'));
}

/** Longer prefixes first; for the same prefix a host-specific route, then a method-specific one. */
function specificity(a: Route, b: Route): number {
  return (
    b.prefix.length - a.prefix.length ||
    Number(b.host !== undefined) - Number(a.host !== undefined) ||
    Number(b.methods !== undefined) - Number(a.methods !== undefined)
  );
}

export type RouteMatch = { kind: 'matched'; route: Route } | { kind: 'not_found' } | { kind: 'method_not_allowed'; allow: string[] };

export interface MatchInput {
  method: string;
  /** The Host header as received. */
  host: string | undefined;
  /** A normalized path from parseRequestTarget. */
  path: string;
}

export function matchRoute(routes: readonly Route[], input: MatchInput): RouteMatch {
  const hostname = hostnameOf(input.host);
  const candidates = routes
    .filter((route) => (route.host === undefined || route.host === hostname) && pathHasPrefix(input.path, route.prefix))
    .sort(specificity);
  const longest = candidates[0];
  if (!longest) return { kind: 'not_found' };
  // The longest prefix owns the path: a method it does not allow is a 405, never
  // a fall-through to a shorter (possibly less protected) route.
  const owners = candidates.filter((candidate) => candidate.prefix === longest.prefix);
  const route = owners.find((candidate) => allowsMethod(candidate, input.method));
  if (route) return { kind: 'matched', route };
  const allow = new Set<string>();
  for (const owner of owners) for (const method of owner.methods ?? []) allow.add(method);
  if (allow.has('GET')) allow.add('HEAD');
  return { kind: 'method_not_allowed', allow: [...allow].sort() };
}

/** The path to send upstream: the matched prefix removed when the route says so. */
export function upstreamPath(route: Route, target: RequestTarget): string {
  let path = target.path;
  if (route.stripPrefix && route.prefix !== '/') {
    const prefix = route.prefix.endsWith('/') ? route.prefix.slice(0, -1) : route.prefix;
    path = path.slice(prefix.length) || '/';
  }
  return path + target.search;
}

/** The path to request on the upstream's origin: the upstream URL's own base path, then the request's. */
export function upstreamRequestPath(route: Route, pathAndQuery: string): string {
  return route.upstream.pathname === '/' ? pathAndQuery : route.upstream.pathname.replace(/\/+$/, '') + pathAndQuery;
}

/** The absolute upstream URL for a request path (see upstreamRequestPath). */
export function upstreamUrl(route: Route, pathAndQuery: string, websocket = false): URL {
  const url = new URL(`${route.upstream.origin}${upstreamRequestPath(route, pathAndQuery)}`);
  if (websocket) url.protocol = route.upstream.protocol === 'https:' ? 'wss:' : 'ws:';
  return url;
}

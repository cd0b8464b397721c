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
  return plainRequestTarget(rawUrl) ?? normalisedRequestTarget(rawUrl);
}

// Characters the URL parser leaves alone in a path and in a query. Anything else
// (percent escapes in the path, backslashes, fragments, spaces, non-ASCII) takes
// the URL parser.
const PLAIN_PATH = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/;
const PLAIN_QUERY = /^[A-Za-z0-9\-._~!$&()*+,;=:@/?%]*$/;
const DOT_SEGMENT = /\/\.\.?(?:\/|$)/;

/**
 * The common case without allocating a URL: a path that has no dot segment, no
 * repeated slash and no character the parser would rewrite is already normal.
 * Undefined when the target needs the full parser (normalisedRequestTarget gives
 * the same answer for every target this one accepts; a property test checks it).
 */
export function plainRequestTarget(rawUrl: string): RequestTarget | undefined {
  const queryAt = rawUrl.indexOf('?');
  const path = queryAt === -1 ? rawUrl : rawUrl.slice(0, queryAt);
  const search = queryAt === -1 || queryAt === rawUrl.length - 1 ? '' : rawUrl.slice(queryAt);
  if (!PLAIN_PATH.test(path) || path.includes('//') || DOT_SEGMENT.test(path)) return undefined;
  if (search && !PLAIN_QUERY.test(search.slice(1))) return undefined;
  return { path, search };
}

/** Any origin-form target, normalised by the WHATWG URL parser (dot segments, escapes), repeated slashes collapsed. */
export function normalisedRequestTarget(rawUrl: string): RequestTarget | undefined {
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

// Route lists are sorted once (by specificity) the first time they are matched
// against; a reloaded table is a new array and gets its own order.
const sortedLists = new WeakMap<readonly Route[], readonly Route[]>();

function bySpecificity(routes: readonly Route[]): readonly Route[] {
  let sorted = sortedLists.get(routes);
  if (!sorted) {
    sorted = [...routes].sort(specificity);
    sortedLists.set(routes, sorted);
  }
  return sorted;
}

export function matchRoute(routes: readonly Route[], input: MatchInput): RouteMatch {
  const hostname = hostnameOf(input.host);
  const applies = (route: Route) => (route.host === undefined || route.host === hostname) && pathHasPrefix(input.path, route.prefix);
  const sorted = bySpecificity(routes);
  // The first route that applies has the longest prefix; the others sharing that prefix follow it
  // (a stable sort of the whole list, filtered, is the sort of the filtered list).
  let first = 0;
  while (first < sorted.length && !applies(sorted[first] as Route)) first += 1;
  const longest = sorted[first];
  if (!longest) return { kind: 'not_found' };
  // The longest prefix owns the path: a method it does not allow is a 405, never
  // a fall-through to a shorter (possibly less protected) route.
  let allow: Set<string> | undefined;
  for (let i = first; i < sorted.length; i += 1) {
    const candidate = sorted[i] as Route;
    if (candidate.prefix.length !== longest.prefix.length) break;
    if (candidate.prefix !== longest.prefix || !applies(candidate)) continue;
    if (allowsMethod(candidate, input.method)) return { kind: 'matched', route: candidate };
    allow ??= new Set();
    for (const method of candidate.methods ?? []) allow.add(method);
  }
  allow ??= new Set();
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

// The routes file: validated with zod, `${VAR}` / `${VAR:-default}` substituted
// from the environment, compiled into immutable Route objects. Every problem
// names the entry it is in, so a bad file is fixed in one go.
import { z } from 'zod';
import { parseDuration } from '../../common/duration.ts';
import { HEADER_NAME, normaliseHeaderName } from '../lib/header-names.ts';

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
export type AuthMode = 'none' | 'optional' | 'required';
/** How a caller may prove who it is on a route: a bearer token, the gateway's cookie session (sessions/), or either. */
export const CREDENTIALS = ['bearer', 'cookie'] as const;
export type Credential = (typeof CREDENTIALS)[number];

export interface Route {
  readonly id: string;
  /** Path prefix, segment-aware: `/notes` matches `/notes` and `/notes/1`, not `/notesy`. */
  readonly prefix: string;
  /** Undefined: every method. */
  readonly methods: ReadonlySet<string> | undefined;
  /** Lower-case hostname without port; undefined: any host. */
  readonly host: string | undefined;
  readonly upstream: URL;
  readonly auth: AuthMode;
  /** Required `aud` value; present whenever auth is not `none`. */
  readonly audience: string | undefined;
  /** All of these scopes are required. */
  readonly scopes: readonly string[];
  readonly stripPrefix: boolean;
  /** Time allowed for the upstream's response headers; undefined: the gateway default. */
  readonly timeoutMs: number | undefined;
  readonly forwardAuthorization: boolean;
  readonly websocket: boolean;
  /** Forward headers whose names contain `_` (identity-like ones are still dropped). */
  readonly allowUnderscoreHeaders: boolean;
  /** Forward X-HTTP-Method-Override, X-Original-URL and the like. */
  readonly forwardOverrideHeaders: boolean;
  /** More header names (normalised) to drop on this route. */
  readonly stripHeaders: ReadonlySet<string>;
  /** Bearer tokens, cookie sessions, or both (a bearer token wins when a request has both). */
  readonly acceptsBearer: boolean;
  readonly acceptsCookie: boolean;
  /** A page: a browser navigation without a session is sent to sign in instead of answered 401. */
  readonly signIn: boolean;
  /** The token service itself: it receives its own sign-in cookies (contract/browser-cookies.ts), which other upstreams never do. */
  readonly forwardSignInCookies: boolean;
}

const durationText = z.union([z.string(), z.number().nonnegative()]).transform((value, ctx) => {
  const ms = parseDuration(String(value));
  if (ms === undefined || ms <= 0) {
    ctx.addIssue({ code: 'custom', message: `expected a positive duration such as 5s or 250ms, got "${value}"` });
    return z.NEVER;
  }
  return ms;
});

const routeEntrySchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9._:-]+$/, 'use letters, digits and . _ : -'),
    prefix: z
      .string()
      .startsWith('/', 'must start with "/"')
      .refine((p) => !/\/\/|\/\.\.?(\/|$)|[?#\\]/.test(p), 'must be a normalized path (no //, . or .. segments, ?, # or \\)'),
    methods: z.array(z.enum(HTTP_METHODS)).min(1).optional(),
    host: z.string().min(1).optional(),
    upstream: z
      .url({ protocol: /^https?$/ })
      .refine((u) => !URL.canParse(u) || (!new URL(u).search && !new URL(u).hash), 'must not have a query or fragment'),
    auth: z.enum(['none', 'optional', 'required']),
    audience: z.string().min(1).optional(),
    scopes: z.array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'not a valid scope token')).default([]),
    strip_prefix: z.boolean().default(false),
    timeout: durationText.optional(),
    forward_authorization: z.boolean().default(true),
    websocket: z.boolean().default(false),
    allow_underscore_headers: z.boolean().default(false),
    forward_override_headers: z.boolean().default(false),
    strip_headers: z.array(z.string().regex(HEADER_NAME, 'not a valid header name')).default([]),
    credentials: z.array(z.enum(CREDENTIALS)).min(1).default(['bearer']),
    sign_in: z.boolean().default(false),
    forward_sign_in_cookies: z.boolean().default(false),
  })
  .strict()
  .superRefine((entry, ctx) => {
    if (entry.auth !== 'none' && !entry.audience) {
      ctx.addIssue({ code: 'custom', path: ['audience'], message: `required when auth is "${entry.auth}"` });
    }
    if (entry.auth === 'none' && entry.audience) {
      ctx.addIssue({ code: 'custom', path: ['audience'], message: 'has no effect when auth is "none"' });
    }
    if (entry.sign_in && !entry.credentials.includes('cookie')) {
      ctx.addIssue({
        code: 'custom',
        path: ['sign_in'],
        message: 'sends browsers to sign in for a cookie session: needs "cookie" in credentials',
      });
    }
    if (entry.auth !== 'required' && entry.scopes.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['scopes'], message: 'scopes need auth "required"' });
    }
  });

const routesFileSchema = z
  .object({
    routes: z.array(z.unknown()),
  })
  .strict();

export type RouteEntryInput = z.input<typeof routeEntrySchema>;
export interface RoutesFileInput {
  routes: RouteEntryInput[];
}

export class RoutesError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`Invalid routes (${source}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'RoutesError';
  }
}

/** Replaces `${NAME}` and `${NAME:-default}` in a string; unknown names without default are problems. */
export function substituteVariables(text: string, env: Record<string, string | undefined>, onMissing: (name: string) => void): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_match, name: string, fallback?: string) => {
    const value = env[name];
    if (value !== undefined && value !== '') return value;
    if (fallback !== undefined) return fallback;
    onMissing(name);
    return '';
  });
}

function substituteDeep(value: unknown, env: Record<string, string | undefined>, onMissing: (name: string) => void): unknown {
  if (typeof value === 'string') return substituteVariables(value, env, onMissing);
  if (Array.isArray(value)) return value.map((item) => substituteDeep(item, env, onMissing));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteDeep(v, env, onMissing)]));
  }
  return value;
}

function describeEntry(index: number, raw: unknown): string {
  const id = raw && typeof raw === 'object' && typeof (raw as { id?: unknown }).id === 'string' ? (raw as { id: string }).id : undefined;
  return id ? `routes[${index}] "${id}"` : `routes[${index}]`;
}

function overlaps(a: Route, b: Route): boolean {
  if (a.prefix !== b.prefix || a.host !== b.host) return false;
  if (!a.methods || !b.methods) return !a.methods && !b.methods;
  return [...a.methods].some((m) => b.methods?.has(m));
}

/**
 * Validates and compiles a parsed routes document. `source` names it in errors
 * (a file path or "inline"). Throws RoutesError listing every problem.
 */
export function compileRoutes(document: unknown, env: Record<string, string | undefined>, source: string): Route[] {
  const top = routesFileSchema.safeParse(document);
  if (!top.success) {
    throw new RoutesError(
      source,
      top.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`),
    );
  }
  const problems: string[] = [];
  const routes: Route[] = [];
  top.data.routes.forEach((raw, index) => {
    const where = describeEntry(index, raw);
    const substituted = substituteDeep(raw, env, (name) =>
      problems.push(`${where}: environment variable ${name} is not set and has no default`),
    );
    const parsed = routeEntrySchema.safeParse(substituted);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) problems.push(`${where}.${issue.path.join('.') || '(entry)'}: ${issue.message}`);
      return;
    }
    const entry = parsed.data;
    routes.push(
      Object.freeze({
        id: entry.id,
        prefix: entry.prefix,
        methods: entry.methods ? new Set(entry.methods) : undefined,
        host: entry.host?.toLowerCase(),
        upstream: new URL(entry.upstream),
        auth: entry.auth,
        audience: entry.audience,
        scopes: Object.freeze([...entry.scopes]),
        stripPrefix: entry.strip_prefix,
        timeoutMs: entry.timeout,
        forwardAuthorization: entry.forward_authorization,
        websocket: entry.websocket,
        allowUnderscoreHeaders: entry.allow_underscore_headers,
        forwardOverrideHeaders: entry.forward_override_headers,
        stripHeaders: new Set(entry.strip_headers.map(normaliseHeaderName)),
        acceptsBearer: entry.credentials.includes('bearer'),
        acceptsCookie: entry.credentials.includes('cookie'),
        signIn: entry.sign_in,
        forwardSignInCookies: entry.forward_sign_in_cookies,
      }),
    );
  });
  const seen = new Map<string, number>();
  routes.forEach((route, index) => {
    if (seen.has(route.id)) problems.push(`route id "${route.id}" is used twice`);
    seen.set(route.id, index);
    const clash = routes.slice(0, index).find((other) => overlaps(other, route));
    if (clash) problems.push(`route "${route.id}" matches the same requests as "${clash.id}" (same prefix, host and method)`);
  });
  if (problems.length > 0) throw new RoutesError(source, problems);
  return routes;
}

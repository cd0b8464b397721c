// Cookie sessions (backend-for-frontend): the browser holds one HttpOnly
// cookie, sealed by the gateway (sealed-cookie.ts), carrying the session's
// tokens; JavaScript never sees a token, and the gateway stores nothing (any
// instance serves any session). Per process, what can be cached is: opened
// cookies, and the renewed access token of a session whose browser has not yet
// received the renewed cookie.
import crypto from 'node:crypto';
import type { Logger } from '../../common/logger.ts';
import { CookieSealer } from './sealed-cookie.ts';
import { SessionEnded, type TokenClient } from './token-client.ts';

/** What the session cookie carries (short names: it travels with every request). */
interface SealedSession {
  /** Access token and its `exp` (seconds). */
  at: string;
  ae: number;
  /** Refresh token (the gateway's client keeps it: no rotation). */
  rt: string;
  /** ID token: the id_token_hint that ends the sign-in at logout. */
  it: string | undefined;
  /** Display name. */
  n: string | undefined;
  /** The session's end (ms since the epoch): no sign-in lasts longer. */
  x: number;
}

export interface Session {
  readonly accessToken: string;
  /** The access token's `exp`, in seconds. */
  readonly accessExpires: number;
  readonly refreshToken: string;
  readonly idToken: string | undefined;
  readonly name: string | undefined;
  /** When the cookie session ends (ms). */
  readonly expiresAt: number;
}

/** The sign-in in progress: what the callback must see again (RFC 9700 §4.5: state, nonce, PKCE). */
export interface SignInTransaction {
  state: string;
  nonce: string;
  verifier: string;
  returnTo: string;
  /** ms since the epoch */
  created: number;
}

export interface CookieSessionOptions {
  keys: readonly Buffer[];
  cookieName: string;
  secure: boolean;
  maxAgeMs: number;
  refreshMarginMs: number;
  client: TokenClient;
  logger: Logger;
  now?: () => number;
  /** Opened cookies kept in memory. */
  cacheSize?: number;
}

const TRANSACTION_MAX_AGE_MS = 10 * 60_000;
/** The base64url of the 16-byte GCM tag that ends every sealed value. */
const OPENED_KEY_CHARS = 22;
const accessExpiryOf = (accessToken: string): number => {
  const payload = JSON.parse(Buffer.from(accessToken.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown };
  return typeof payload.exp === 'number' ? payload.exp : 0;
};

export class CookieSessions {
  readonly cookieName: string;
  readonly transactionCookieName: string;
  readonly #sealer: CookieSealer;
  readonly #options: CookieSessionOptions;
  readonly #now: () => number;
  /**
   * Opened cookies, by the value's last characters (its GCM tag, random for every seal): hashing a
   * short key instead of a 2 KB value is most of what a cached cookie costs. A hit must be the very
   * same value (compared whole), so a forged value that shares the tail never reads another session.
   */
  readonly #opened = new Map<string, { value: string; session: Session }>();
  /** Sessions renewed here, by refresh token: later requests still carrying the old cookie use (and are sent) the new one. */
  readonly #renewed = new Map<string, Session>();
  /** Single flight: one refresh per session at a time in this process. */
  readonly #refreshing = new Map<string, Promise<Session>>();
  /**
   * Refresh tokens the token service refused, or a logout here revoked: a dead cookie presented
   * again (a script retrying, a WebSocket reconnecting) costs no further call to the token service.
   */
  readonly #ended = new Map<string, true>();
  #marginWarned = false;
  readonly #cacheSize: number;

  constructor(options: CookieSessionOptions) {
    this.#options = options;
    this.#sealer = new CookieSealer(options.keys);
    this.cookieName = options.cookieName;
    // With __Host-, the prefix goes first: "__Host-session-signin" is still a __Host- cookie.
    this.transactionCookieName = `${options.cookieName}-signin`;
    this.#now = options.now ?? Date.now;
    this.#cacheSize = options.cacheSize ?? 10_000;
  }

  /**
   * The session a request's Cookie header carries, if one opens and has not ended: what the browser
   * holds, never a renewal made here (`latest`), so that the response can tell whether the browser
   * still needs the renewed cookie.
   */
  read(cookieHeader: string | undefined): Session | undefined {
    for (const value of cookieValues(cookieHeader, this.cookieName)) {
      const session = this.#open(value);
      if (session) return session;
    }
    return undefined;
  }

  /** The freshest state of a presented session in this process: its renewal, if one was made here. */
  latest(presented: Session): Session {
    return this.renewalFor(presented) ?? presented;
  }

  #open(value: string): Session | undefined {
    const key = value.slice(-OPENED_KEY_CHARS);
    const cached = this.#opened.get(key);
    let session = cached !== undefined && cached.value === value ? cached.session : undefined;
    if (!session) {
      const plaintext = this.#sealer.open(this.cookieName, value);
      if (plaintext === undefined) return undefined;
      const sealed = JSON.parse(plaintext) as SealedSession;
      session = {
        accessToken: sealed.at,
        accessExpires: sealed.ae,
        refreshToken: sealed.rt,
        idToken: sealed.it,
        name: sealed.n,
        expiresAt: sealed.x,
      };
      remember(this.#opened, key, { value, session }, this.#cacheSize);
    }
    return session.expiresAt > this.#now() ? session : undefined;
  }

  /** A new session from a sign-in's tokens. */
  create(tokens: { accessToken: string; refreshToken: string; idToken: string | undefined }, name: string | undefined): Session {
    return {
      accessToken: tokens.accessToken,
      accessExpires: accessExpiryOf(tokens.accessToken),
      refreshToken: tokens.refreshToken,
      idToken: tokens.idToken,
      name,
      expiresAt: this.#now() + this.#options.maxAgeMs,
    };
  }

  /** Due for renewal: its access token expires within the margin (or has). */
  needsRefresh(session: Session): boolean {
    return session.accessExpires * 1000 - this.#now() <= this.#options.refreshMarginMs;
  }

  /** Expired: it cannot be used until renewed. */
  isAccessExpired(session: Session): boolean {
    return session.accessExpires * 1000 <= this.#now();
  }

  /**
   * Renews the access token, once per session at a time in this process.
   * Rejects with SessionEnded when the token service refuses (revoked, expired),
   * or when the session is past its own end (a WebSocket outliving its cookie).
   */
  refresh(session: Session): Promise<Session> {
    if (session.expiresAt <= this.#now()) return Promise.reject(new SessionEnded('the session has reached its end'));
    const key = session.refreshToken;
    if (this.#ended.has(key)) return Promise.reject(new SessionEnded('the session has ended'));
    const inFlight = this.#refreshing.get(key);
    if (inFlight) return inFlight;
    const pending: Promise<Session> = this.#options.client
      .refresh(session.refreshToken)
      .then((tokens) => {
        const renewed: Session = {
          ...session,
          accessToken: tokens.accessToken,
          accessExpires: accessExpiryOf(tokens.accessToken),
          // A client that rotates would get a new one; ours keeps its own.
          refreshToken: tokens.refreshToken ?? session.refreshToken,
        };
        this.#checkMargin(renewed);
        // Unless a logout forgot the session meanwhile: its renewal must not come back in a cookie.
        if (this.#refreshing.get(key) === pending) remember(this.#renewed, key, renewed, this.#cacheSize);
        return renewed;
      })
      .catch((error: unknown) => {
        // An ended session loses its renewal; a failure that may pass (the token service unreachable)
        // keeps an earlier good one, which browsers still holding the older cookie go on using.
        if (error instanceof SessionEnded) this.#endedHere(key);
        else this.#options.logger.warn({ err: (error as Error).message }, 'session refresh failed');
        throw error;
      })
      .finally(() => {
        if (this.#refreshing.get(key) === pending) this.#refreshing.delete(key);
      });
    this.#refreshing.set(key, pending);
    return pending;
  }

  /**
   * A renewal done here (by this request or another) that is fresher than what this request's
   * cookie holds. Only a fresher one: with several gateways, the browser may already hold a later
   * renewal made elsewhere, which an older one from here must not replace.
   */
  renewalFor(presented: Session): Session | undefined {
    const renewed = this.#renewed.get(presented.refreshToken);
    return renewed && renewed.accessExpires > presented.accessExpires ? renewed : undefined;
  }

  /** A session revoked by a logout here: its renewals, done or in flight, must not outlive it in this process. */
  forget(session: Session): void {
    this.#endedHere(session.refreshToken);
  }

  /** Said once per process: a margin as long as the tokens' lifetime makes every request renew its session. */
  #checkMargin(renewed: Session): void {
    if (this.#marginWarned) return;
    const lifetimeMs = renewed.accessExpires * 1000 - this.#now();
    if (lifetimeMs > this.#options.refreshMarginMs) return;
    this.#marginWarned = true;
    this.#options.logger.warn(
      { refreshMarginMs: this.#options.refreshMarginMs, accessTokenLifetimeMs: lifetimeMs },
      'SESSION_REFRESH_MARGIN is not shorter than the access tokens’ lifetime: every request renews its session',
    );
  }

  #endedHere(refreshToken: string): void {
    this.#renewed.delete(refreshToken);
    this.#refreshing.delete(refreshToken);
    remember(this.#ended, refreshToken, true, this.#cacheSize);
  }

  setCookie(session: Session): string {
    const sealed: SealedSession = {
      at: session.accessToken,
      ae: session.accessExpires,
      rt: session.refreshToken,
      it: session.idToken,
      n: session.name,
      x: session.expiresAt,
    };
    const value = this.#sealer.seal(this.cookieName, JSON.stringify(sealed));
    return this.#cookie(this.cookieName, value, Math.max(0, Math.floor((session.expiresAt - this.#now()) / 1000)));
  }

  clearCookie(): string {
    return this.#cookie(this.cookieName, '', 0);
  }

  /** The sign-in transaction's cookie, sealed under its own name; Lax, so it returns with the redirect from the token service. */
  setTransactionCookie(transaction: SignInTransaction): string {
    return this.#cookie(
      this.transactionCookieName,
      this.#sealer.seal(this.transactionCookieName, JSON.stringify(transaction)),
      TRANSACTION_MAX_AGE_MS / 1000,
    );
  }

  clearTransactionCookie(): string {
    return this.#cookie(this.transactionCookieName, '', 0);
  }

  readTransaction(cookieHeader: string | undefined): SignInTransaction | undefined {
    for (const value of cookieValues(cookieHeader, this.transactionCookieName)) {
      const plaintext = this.#sealer.open(this.transactionCookieName, value);
      if (plaintext === undefined) continue;
      const transaction = JSON.parse(plaintext) as SignInTransaction;
      if (this.#now() - transaction.created < TRANSACTION_MAX_AGE_MS) return transaction;
    }
    return undefined;
  }

  /** The gateway's own cookie names (the session and the sign-in in progress). */
  get ownCookieNames(): string[] {
    return [this.cookieName, this.transactionCookieName];
  }

  #cookie(name: string, value: string, maxAgeSeconds: number): string {
    return `${name}=${value}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Lax${this.#options.secure ? '; Secure' : ''}`;
  }
}

/** The values of every cookie called `name` in a Cookie header (RFC 6265 §5.4: there may be several). */
export function cookieValues(cookieHeader: string | undefined, name: string): string[] {
  if (!cookieHeader || !cookieHeader.includes(name)) return [];
  const values: string[] = [];
  for (const pair of cookieHeader.split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq).trim() === name) values.push(pair.slice(eq + 1).trim());
  }
  return values;
}

function remember<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value as K);
}

/** 256 random bits, base64url: state, nonce and PKCE verifier. */
export const randomValue = (): string => crypto.randomBytes(32).toString('base64url');

/** RFC 7636 S256. */
export const pkceChallenge = (verifier: string): string => crypto.createHash('sha256').update(verifier).digest('base64url');

// Stage 5: the signed identity assertion (X-Auth-Assertion) for the upstream:
// a JWT of the verified caller whose audience is the route, signed with the
// gateway's key (assertions/). RSA signing costs about a millisecond, so an
// assertion is reused for the same access token and route while at least
// REUSE_MARGIN_S of its life remain: a hot token costs a map lookup, answered
// synchronously like a cached verification (admission.ts); only a signature is
// awaited. It runs after the revocation check, so a revoked session never
// gets one, cached or not.
import type { GatewayAssertionClaims } from '../../contract/gateway-assertion.ts';
import { GATEWAY_ASSERTION_MAX_LIFETIME_S } from '../../contract/gateway-assertion.ts';
import type { AssertionSigner } from '../assertions/signer.ts';
import type { Route } from '../routes/schema.ts';
import type { VerifiedClaims } from '../tokens/claims.ts';

/** Lifetime of an assertion; the contract allows at most GATEWAY_ASSERTION_MAX_LIFETIME_S. */
export const ASSERTION_LIFETIME_S = GATEWAY_ASSERTION_MAX_LIFETIME_S;
/** A cached assertion is handed out only while this much of its life remains (an app's clock may be behind ours). */
export const REUSE_MARGIN_S = 15;

interface CachedAssertion {
  readonly routeId: string;
  /** The claims it was made from: the same object whenever the verification cache answered. */
  readonly claims: VerifiedClaims;
  /** The compact JWS, or its signing still under way (concurrent requests share one signature). */
  jws: string | Promise<string>;
  readonly reuseUntilMs: number;
}

export interface IdentityAsserterOptions {
  /** The assertions' `iss`. */
  issuer: string;
  sign: AssertionSigner;
  maxEntries: number;
  now?: () => number;
}

export class IdentityAsserter {
  readonly stats = { signatures: 0, cacheHits: 0 };
  // A Map iterates in insertion order; re-inserting on a hit makes it an LRU.
  readonly #entries = new Map<string, CachedAssertion>();
  readonly #options: IdentityAsserterOptions;
  readonly #now: () => number;

  constructor(options: IdentityAsserterOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  get issuer(): string {
    return this.#options.issuer;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The assertion of `claims` for `route`: at once when one is cached, else a promise of a fresh signature. */
  assertionFor(route: Route, claims: VerifiedClaims): string | Promise<string> {
    const nowMs = this.#now();
    // Route ids cannot contain spaces (routes/schema.ts); the entry's own fields are compared as well.
    const key = `${route.id} ${claims.jti} ${claims.sid}`;
    const cached = this.#entries.get(key);
    if (cached) {
      this.#entries.delete(key);
      if (cached.reuseUntilMs > nowMs && cached.routeId === route.id && sameIdentity(cached.claims, claims)) {
        this.#entries.set(key, cached);
        this.stats.cacheHits += 1;
        return cached.jws;
      }
    }
    return this.#sign(key, route, claims, nowMs);
  }

  #sign(key: string, route: Route, claims: VerifiedClaims, nowMs: number): Promise<string> {
    const iat = Math.floor(nowMs / 1000);
    const payload: GatewayAssertionClaims = {
      iss: this.#options.issuer,
      aud: route.id,
      sub: claims.sub,
      sid: claims.sid,
      scope: claims.scopes.join(' '),
      ...(claims.clientId !== undefined ? { client_id: claims.clientId } : {}),
      iat,
      exp: iat + ASSERTION_LIFETIME_S,
    };
    this.stats.signatures += 1;
    const entry: CachedAssertion = { routeId: route.id, claims, jws: '', reuseUntilMs: (payload.exp - REUSE_MARGIN_S) * 1000 };
    const signing = this.#options.sign(payload).then(
      (jws) => {
        entry.jws = jws;
        return jws;
      },
      (error: unknown) => {
        if (this.#entries.get(key) === entry) this.#entries.delete(key);
        throw error;
      },
    );
    entry.jws = signing;
    if (this.#options.maxEntries > 0) {
      this.#entries.set(key, entry);
      while (this.#entries.size > this.#options.maxEntries) {
        const oldest = this.#entries.keys().next().value;
        if (oldest === undefined) break;
        this.#entries.delete(oldest);
      }
    }
    return signing;
  }
}

/** Whether two verified tokens assert the same identity (the same token, in practice). */
function sameIdentity(a: VerifiedClaims, b: VerifiedClaims): boolean {
  if (a === b) return true;
  return (
    a.jti === b.jti &&
    a.sid === b.sid &&
    a.sub === b.sub &&
    a.clientId === b.clientId &&
    a.scopes.length === b.scopes.length &&
    a.scopes.every((scope, i) => scope === b.scopes[i])
  );
}

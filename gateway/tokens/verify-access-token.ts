// Access-token verification with jose, exactly as contract/access-token.ts
// and docs/WIRE-CONTRACT.md profile RFC 9068: RS256 only, typ at+jwt, our
// issuer, the required claims. The contract's forbidden headers (keys
// elsewhere, crit) are refused outright; `kid` is only a lookup key into our
// own JWKS. Audience is left to the caller because it depends on the route.
import { errors, jwtVerify, type CryptoKey, type JWTPayload, type JWTHeaderParameters } from 'jose';
import { ACCESS_TOKEN_TYPE, FORBIDDEN_JOSE_HEADERS } from '../../contract/access-token.ts';
import type { VerifiedClaims } from './claims.ts';
import { tokenCacheKey, VerificationCache } from './verification-cache.ts';

export interface KeyResolver {
  resolve(kid: string): Promise<CryptoKey | undefined>;
}

export interface VerifierOptions {
  issuer: string;
  keys: KeyResolver;
  clockToleranceMs: number;
  cache: VerificationCache;
  now?: () => number;
}

/** A token that must not be accepted; `reason` is safe to show to the client. */
export class TokenRejected extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'TokenRejected';
  }
}

const REQUIRED_CLAIMS = ['exp', 'iat', 'jti', 'sub', 'sid'];
// Generous for a JWT, small enough that hashing and parsing junk stays cheap.
const MAX_TOKEN_LENGTH = 8192;
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export class AccessTokenVerifier {
  readonly stats = { verifications: 0, cacheHits: 0 };
  readonly #options: VerifierOptions;
  readonly #now: () => number;

  constructor(options: VerifierOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  get cache(): VerificationCache {
    return this.#options.cache;
  }

  /** The token's claims, or throws TokenRejected. Audience and revocation are not checked here. */
  async verify(token: string): Promise<VerifiedClaims> {
    return this.claimsOf(token);
  }

  /**
   * The token's claims, answered at once for a token verified before and not yet
   * expired (the request path's fast lane), a promise only when the signature must
   * be checked. Throws TokenRejected, synchronously, for what is not a JWS at all.
   */
  claimsOf(token: string): VerifiedClaims | Promise<VerifiedClaims> {
    if (token.length > MAX_TOKEN_LENGTH) throw new TokenRejected('malformed token');
    const cacheKey = tokenCacheKey(token);
    const claims = this.#options.cache.get(cacheKey, this.#now());
    if (claims) {
      // Only a string that passed the checks below is ever cached (the key is its SHA-256).
      this.stats.cacheHits += 1;
      return claims;
    }
    // Opaque refresh tokens (and anything else that is not a JWS) stop here.
    if (!JWS_COMPACT.test(token)) throw new TokenRejected('malformed token');
    return this.#verifySignature(token, cacheKey);
  }

  async #verifySignature(token: string, cacheKey: string): Promise<VerifiedClaims> {
    const now = this.#now();
    this.stats.verifications += 1;
    let payload: JWTPayload;
    let kid: string;
    try {
      const result = await jwtVerify(token, (header) => this.#keyFor(header), {
        algorithms: ['RS256'],
        typ: ACCESS_TOKEN_TYPE,
        issuer: this.#options.issuer,
        requiredClaims: REQUIRED_CLAIMS,
        clockTolerance: Math.floor(this.#options.clockToleranceMs / 1000),
        currentDate: new Date(now),
      });
      payload = result.payload;
      kid = result.protectedHeader.kid as string;
    } catch (error) {
      throw error instanceof TokenRejected ? error : new TokenRejected(describeJoseError(error));
    }
    const claims = readClaims(payload);
    if (claims.iat * 1000 > now + this.#options.clockToleranceMs) throw new TokenRejected('"iat" claim in the future');
    this.#options.cache.set(cacheKey, claims, kid);
    return claims;
  }

  async #keyFor(header: JWTHeaderParameters): Promise<CryptoKey> {
    for (const name of FORBIDDEN_JOSE_HEADERS) {
      if (name in header) throw new TokenRejected(`"${name}" header not accepted`);
    }
    if (typeof header.kid !== 'string' || header.kid === '') throw new TokenRejected('missing "kid" header');
    const key = await this.#options.keys.resolve(header.kid);
    if (!key) throw new TokenRejected('unknown signing key');
    return key;
  }
}

/**
 * The claims of a payload jose has verified, or TokenRejected. Checked by hand
 * rather than with the contract's zod schema: this runs on every cache miss,
 * and test/gateway/claims.test.ts proves it agrees with the schema. Only sub,
 * sid, jti, iat and exp are required; scope and client_id are read when they
 * are strings.
 */
export function readClaims(payload: JWTPayload): VerifiedClaims {
  const { sub, jti, iat, exp, aud } = payload;
  const sid: unknown = payload.sid;
  for (const [name, value] of [
    ['sub', sub],
    ['jti', jti],
    ['sid', sid],
  ] as const) {
    if (typeof value !== 'string' || value === '') throw new TokenRejected(`"${name}" claim invalid`);
  }
  if (typeof iat !== 'number' || typeof exp !== 'number') throw new TokenRejected('"iat"/"exp" claim invalid');
  let audiences: readonly string[];
  if (typeof aud === 'string') audiences = [aud];
  else if (aud === undefined) audiences = [];
  else if (Array.isArray(aud) && aud.every((member) => typeof member === 'string')) audiences = [...aud];
  else throw new TokenRejected('"aud" claim invalid');
  const scope: unknown = payload.scope;
  const clientId: unknown = payload.client_id;
  return Object.freeze({
    sub: sub as string,
    sid: sid as string,
    jti: jti as string,
    iat,
    exp,
    aud: Object.freeze(audiences),
    scopes: Object.freeze(typeof scope === 'string' ? scope.split(' ').filter(Boolean) : []),
    clientId: typeof clientId === 'string' ? clientId : undefined,
  });
}

function describeJoseError(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'token expired';
  if (error instanceof errors.JWTClaimValidationFailed) return `"${error.claim}" claim invalid`;
  if (error instanceof errors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'signature invalid';
  return 'malformed token';
}

/** RFC 9068 §4: the token's `aud` must contain the audience the route requires. */
export function hasAudience(claims: VerifiedClaims, audience: string): boolean {
  return claims.aud.includes(audience);
}

// Verified tokens by SHA-256 of the token, so a hot token costs a hash and a
// map lookup instead of an RSA verification. Bounded (least recently used is
// evicted first) and an entry never outlives its token's `exp`. Only the
// signature and issuer-level checks are cached: audience and revocation are
// checked on every request.
import { createHash } from 'node:crypto';
import type { VerifiedClaims } from './claims.ts';

interface CacheEntry {
  claims: VerifiedClaims;
  kid: string;
  expiresAtMs: number;
}

export function tokenCacheKey(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

export class VerificationCache {
  // A Map iterates in insertion order; re-inserting on a hit makes it an LRU.
  readonly #entries = new Map<string, CacheEntry>();
  readonly #maxEntries: number;

  constructor(maxEntries: number) {
    this.#maxEntries = Math.max(0, maxEntries);
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string, nowMs: number): VerifiedClaims | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    if (entry.expiresAtMs <= nowMs) return undefined;
    this.#entries.set(key, entry);
    return entry.claims;
  }

  set(key: string, claims: VerifiedClaims, kid: string): void {
    if (this.#maxEntries === 0) return;
    this.#entries.delete(key);
    this.#entries.set(key, { claims, kid, expiresAtMs: claims.exp * 1000 });
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#entries.delete(oldest);
    }
  }

  /** Forgets every token signed by one of these keys (they left the JWKS). */
  evictKids(kids: readonly string[]): void {
    if (kids.length === 0) return;
    const gone = new Set(kids);
    for (const [key, entry] of this.#entries) if (gone.has(entry.kid)) this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }
}

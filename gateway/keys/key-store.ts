// The token service's public keys, by `kid`. Lookups of known keys are
// synchronous map reads: a JWKS fetch in flight never delays them. An unknown
// `kid` may trigger one refetch, at most once per cooldown, so forged `kid`s
// cannot turn into a fetch storm against the token service.
import { EventEmitter } from 'node:events';
import { importJWK, type CryptoKey, type JWK } from 'jose';
import type { Logger } from '../../common/logger.ts';
import { fetchJson } from '../lib/fetch-json.ts';

export interface KeyStoreOptions {
  /** Minimum time between two refetches caused by unknown `kid`s. */
  refetchCooldownMs: number;
  logger: Logger;
  /** Bounds for the background refresh period taken from Cache-Control max-age. */
  minRefreshMs?: number;
  maxRefreshMs?: number;
  now?: () => number;
}

export interface KeyStoreStats {
  /** Every successful or failed JWKS fetch. */
  fetches: number;
  /** Fetches triggered by an unknown `kid`. */
  unknownKidRefetches: number;
  /** Unknown `kid`s refused without a fetch because of the cooldown. */
  cooldownRefusals: number;
}

export class KeyStore extends EventEmitter<{ change: [{ added: string[]; removed: string[] }] }> {
  readonly stats: KeyStoreStats = { fetches: 0, unknownKidRefetches: 0, cooldownRefusals: 0 };
  #keys = new Map<string, CryptoKey>();
  #loaded = false;
  #inflight: Promise<void> | undefined;
  #lastUnknownKidFetch = Number.NEGATIVE_INFINITY;
  #refreshTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #jwksUri: string | undefined;
  readonly #options: KeyStoreOptions;
  readonly #now: () => number;

  constructor(options: KeyStoreOptions) {
    super();
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** True once a JWKS has been fetched successfully. */
  get loaded(): boolean {
    return this.#loaded;
  }

  get kids(): string[] {
    return [...this.#keys.keys()];
  }

  /** A known key, or undefined; never waits. */
  get(kid: string): CryptoKey | undefined {
    return this.#keys.get(kid);
  }

  /** A known key at once; for an unknown `kid`, waits for one refetch if the cooldown allows. */
  async resolve(kid: string): Promise<CryptoKey | undefined> {
    const known = this.#keys.get(kid);
    if (known) return known;
    if (this.#inflight) {
      await this.#inflight.catch(() => undefined);
      return this.#keys.get(kid);
    }
    const now = this.#now();
    if (now - this.#lastUnknownKidFetch < this.#options.refetchCooldownMs) {
      this.stats.cooldownRefusals += 1;
      return undefined;
    }
    this.#lastUnknownKidFetch = now;
    this.stats.unknownKidRefetches += 1;
    this.#options.logger.info({ kid }, 'unknown kid; refetching the JWKS');
    await this.refresh().catch((error: Error) => this.#options.logger.warn({ err: error.message }, 'JWKS refetch failed'));
    return this.#keys.get(kid);
  }

  /** Fetches the JWKS now (joining a fetch already in flight). Keeps the old keys on failure. */
  refresh(): Promise<void> {
    this.#inflight ??= this.#fetch().finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  /** Loads the keys from the issuer's jwks_uri, then keeps refreshing them per the response's max-age. */
  async start(jwksUri: string): Promise<void> {
    this.#jwksUri = jwksUri;
    await this.refresh();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#refreshTimer);
  }

  async #fetch(): Promise<void> {
    const jwksUri = this.#jwksUri;
    if (jwksUri === undefined) throw new Error('KeyStore not started: jwks_uri unknown');
    this.stats.fetches += 1;
    const { body, headers } = await fetchJson(jwksUri);
    const jwks = body as { keys?: unknown };
    if (!Array.isArray(jwks.keys)) throw new Error(`${jwksUri}: not a JWKS (no "keys" array)`);
    const next = new Map<string, CryptoKey>();
    for (const jwk of jwks.keys as JWK[]) {
      const key = await this.#importKey(jwk);
      if (key && jwk.kid) next.set(jwk.kid, key);
    }
    if (next.size === 0) throw new Error(`${jwksUri}: no usable RS256 signing key`);
    const added = [...next.keys()].filter((kid) => !this.#keys.has(kid));
    const removed = [...this.#keys.keys()].filter((kid) => !next.has(kid));
    // Keep the already-imported objects for unchanged kids (a kid names one key forever).
    for (const kid of next.keys()) {
      const existing = this.#keys.get(kid);
      if (existing) next.set(kid, existing);
    }
    this.#keys = next;
    this.#loaded = true;
    if (added.length > 0 || removed.length > 0) {
      this.#options.logger.info({ added, removed }, 'JWKS updated');
      this.emit('change', { added, removed });
    }
    const maxAge = /max-age=(\d+)/.exec(headers.get('cache-control') ?? '')?.[1];
    this.#scheduleRefresh(maxAge === undefined ? 300_000 : Number(maxAge) * 1000);
  }

  async #importKey(jwk: JWK): Promise<CryptoKey | undefined> {
    // Only RSA signing keys for RS256; anything else in the set is ignored, never trusted.
    if (jwk.kty !== 'RSA' || typeof jwk.kid !== 'string' || (jwk.alg !== undefined && jwk.alg !== 'RS256')) return undefined;
    if (jwk.use !== undefined && jwk.use !== 'sig') return undefined;
    if (jwk.d !== undefined) return undefined; // a private key published by mistake is not a verification key
    try {
      return (await importJWK({ kty: jwk.kty, n: jwk.n, e: jwk.e }, 'RS256')) as CryptoKey;
    } catch (error) {
      this.#options.logger.warn({ kid: jwk.kid, err: (error as Error).message }, 'JWKS key ignored');
      return undefined;
    }
  }

  /** Background refresh after `requestedMs`, kept within [minRefreshMs, maxRefreshMs]. */
  #scheduleRefresh(requestedMs: number): void {
    if (this.#closed) return;
    const delay = Math.min(this.#options.maxRefreshMs ?? 3_600_000, Math.max(this.#options.minRefreshMs ?? 30_000, requestedMs));
    clearTimeout(this.#refreshTimer);
    this.#refreshTimer = setTimeout(() => {
      this.refresh().catch((error: Error) => {
        this.#options.logger.warn({ err: error.message }, 'scheduled JWKS refresh failed; retrying later');
        this.#scheduleRefresh(0);
      });
    }, delay);
    this.#refreshTimer.unref();
  }
}

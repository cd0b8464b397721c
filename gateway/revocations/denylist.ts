// What the gateway knows to be revoked, in memory, checked on every request:
// sessions (sid), single tokens (jti) and users revoked from an instant on
// (sub + not-before). An entry is kept until no token it covers can still be
// accepted: its expires_at plus the clock tolerance the verifier grants.
import { EventEmitter } from 'node:events';
import type { AccessTokenClaims } from '../tokens/claims.ts';
import type { Revocation, RevocationKind } from './entry.ts';

export type RevocationMatch = { kind: RevocationKind; key: string };
type TokenFacts = Pick<AccessTokenClaims, 'sub' | 'sid' | 'jti' | 'iat'>;

export interface DenylistOptions {
  /** Extra retention beyond expires_at: the verifier's clock tolerance. */
  retainMs?: number;
  now?: () => number;
}

/** What `waitFor` waits for: an entry id, a kind and key, or any predicate. */
export type RevocationWaitTarget = number | { kind?: RevocationKind; key: string } | ((revocation: Revocation) => boolean);

/** Does this revocation cover this token? (Also used to pick WebSockets to close.) */
export function revocationCovers(revocation: Revocation, token: TokenFacts): boolean {
  switch (revocation.kind) {
    case 'session':
      return token.sid === revocation.key;
    case 'token':
      return token.jti === revocation.key;
    case 'user':
      return token.sub === revocation.key && token.iat <= revocation.notBeforeSec;
  }
}

function targetMatches(target: RevocationWaitTarget, revocation: Revocation): boolean {
  if (typeof target === 'number') return revocation.id === target;
  if (typeof target === 'function') return target(revocation);
  return revocation.key === target.key && (target.kind === undefined || target.kind === revocation.kind);
}

export class Denylist extends EventEmitter<{ revoked: [Revocation] }> {
  readonly #sessions = new Map<string, number>();
  readonly #tokens = new Map<string, number>();
  readonly #users = new Map<string, { notBeforeSec: number; expiresAtMs: number }>();
  /** Applied entry ids (until their entry expires), so replays are recognised and tests can wait. */
  readonly #applied = new Map<number, { revocation: Revocation; forgetAt: number }>();
  readonly #retainMs: number;
  readonly #now: () => number;
  #highestId = 0;

  constructor(options: DenylistOptions = {}) {
    super();
    this.setMaxListeners(0);
    this.#retainMs = options.retainMs ?? 0;
    this.#now = options.now ?? Date.now;
  }

  /** Highest entry id applied so far (0 before any). */
  get highestId(): number {
    return this.#highestId;
  }

  get size(): { sessions: number; tokens: number; users: number } {
    return { sessions: this.#sessions.size, tokens: this.#tokens.size, users: this.#users.size };
  }

  hasApplied(id: number): boolean {
    return this.#applied.has(id);
  }

  /**
   * Records an entry; idempotent. Returns true when the entry was new, and then
   * emits `revoked` (open WebSockets listen to close the sessions it covers).
   */
  apply(revocation: Revocation): boolean {
    const keepUntil = revocation.expiresAtMs + this.#retainMs;
    if (this.#applied.has(revocation.id)) return false;
    this.#highestId = Math.max(this.#highestId, revocation.id);
    // Remember the id a little past expiry so late duplicates are still recognised.
    this.#applied.set(revocation.id, { revocation, forgetAt: Math.max(keepUntil, this.#now() + 60_000) });
    if (keepUntil > this.#now()) {
      switch (revocation.kind) {
        case 'session':
          this.#sessions.set(revocation.key, Math.max(keepUntil, this.#sessions.get(revocation.key) ?? 0));
          break;
        case 'token':
          this.#tokens.set(revocation.key, Math.max(keepUntil, this.#tokens.get(revocation.key) ?? 0));
          break;
        case 'user': {
          const previous = this.#users.get(revocation.key);
          this.#users.set(revocation.key, {
            notBeforeSec: Math.max(revocation.notBeforeSec, previous?.notBeforeSec ?? Number.NEGATIVE_INFINITY),
            expiresAtMs: Math.max(keepUntil, previous?.expiresAtMs ?? 0),
          });
          break;
        }
      }
    }
    this.emit('revoked', revocation);
    return true;
  }

  /** The entry that revokes this token, if any. Three map lookups. */
  check(token: TokenFacts): RevocationMatch | undefined {
    const now = this.#now();
    const sessionUntil = this.#sessions.get(token.sid);
    if (sessionUntil !== undefined && sessionUntil > now) return { kind: 'session', key: token.sid };
    const tokenUntil = this.#tokens.get(token.jti);
    if (tokenUntil !== undefined && tokenUntil > now) return { kind: 'token', key: token.jti };
    const user = this.#users.get(token.sub);
    if (user && user.expiresAtMs > now && token.iat <= user.notBeforeSec) return { kind: 'user', key: token.sub };
    return undefined;
  }

  /** Forgets entries that can no longer cover a valid token. */
  prune(): number {
    const now = this.#now();
    let removed = 0;
    for (const map of [this.#sessions, this.#tokens]) {
      for (const [key, until] of map) if (until <= now && map.delete(key)) removed += 1;
    }
    for (const [key, user] of this.#users) if (user.expiresAtMs <= now && this.#users.delete(key)) removed += 1;
    for (const [id, { forgetAt }] of this.#applied) if (forgetAt <= now) this.#applied.delete(id);
    return removed;
  }

  /**
   * Resolves with the first revocation matching `target` that is (or gets)
   * applied: an entry id, `{kind?, key}` or a predicate. Rejects after `timeoutMs`.
   * Meant for tests and benchmarks: `await gateway.denylist.waitFor({ kind: 'session', key: sid })`.
   */
  waitFor(target: RevocationWaitTarget, timeoutMs = 5000): Promise<Revocation> {
    for (const { revocation } of this.#applied.values()) {
      if (targetMatches(target, revocation)) return Promise.resolve(revocation);
    }
    return new Promise((resolve, reject) => {
      const onRevoked = (revocation: Revocation) => {
        if (!targetMatches(target, revocation)) return;
        clearTimeout(timer);
        this.off('revoked', onRevoked);
        resolve(revocation);
      };
      const timer = setTimeout(() => {
        this.off('revoked', onRevoked);
        reject(new Error(`no revocation matching ${typeof target === 'function' ? 'predicate' : JSON.stringify(target)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.on('revoked', onRevoked);
    });
  }
}

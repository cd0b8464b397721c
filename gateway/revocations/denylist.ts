// What the gateway knows to be revoked, in memory, checked on every request:
// sessions (sid), single tokens (jti) and users revoked from an instant on
// (sub + not-before). An entry is kept until no token it covers can still be
// accepted: its expires_at plus the clock tolerance the verifier grants.
import { EventEmitter } from 'node:events';
import type { VerifiedClaims } from '../tokens/claims.ts';
import type { RevocationKind } from '../../contract/revocations.ts';
import type { Revocation } from './entry.ts';
import { AppliedIds, ExpiringKeys } from './expiring-keys.ts';

/** How many of the latest applied entries `waitFor` can still find after the fact. */
const RECENT_ENTRIES = 10_000;

export type RevocationMatch = { kind: RevocationKind; key: string };
type TokenFacts = Pick<VerifiedClaims, 'sub' | 'sid' | 'jti' | 'iat'>;

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

// Memory matters here: a gateway may hold a million revoked sessions. Sessions and
// tokens are kept as key → second until which to keep them, in compact tables
// (expiring-keys.ts); applied ids as intervals; whole entries only for the latest
// RECENT_ENTRIES, for waitFor. Keeping until the next whole second errs on the side
// of keeping.
export class Denylist extends EventEmitter<{ revoked: [Revocation] }> {
  readonly #sessions = new ExpiringKeys();
  readonly #tokens = new ExpiringKeys();
  readonly #users = new Map<string, { notBeforeSec: number; expiresAtMs: number }>();
  /** Every applied entry id, so replays are recognised. */
  readonly #appliedIds = new AppliedIds();
  /** The latest applied entries, oldest first (a ring of RECENT_ENTRIES), so tests can wait after the fact. */
  readonly #recent: Revocation[] = [];
  #recentNext = 0;
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
    return this.#appliedIds.has(id);
  }

  /**
   * Records an entry; idempotent. Returns true when the entry was new, and then
   * emits `revoked` (open WebSockets listen to close the sessions it covers).
   */
  apply(revocation: Revocation): boolean {
    const keepUntil = revocation.expiresAtMs + this.#retainMs;
    if (!this.#appliedIds.add(revocation.id)) return false;
    this.#highestId = Math.max(this.#highestId, revocation.id);
    if (this.#recent.length < RECENT_ENTRIES) this.#recent.push(revocation);
    else this.#recent[this.#recentNext] = revocation;
    this.#recentNext = (this.#recentNext + 1) % RECENT_ENTRIES;
    if (keepUntil > this.#now()) {
      switch (revocation.kind) {
        case 'session':
          this.#sessions.set(revocation.key, Math.ceil(keepUntil / 1000));
          break;
        case 'token':
          this.#tokens.set(revocation.key, Math.ceil(keepUntil / 1000));
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
    if (sessionUntil !== undefined && sessionUntil * 1000 > now) return { kind: 'session', key: token.sid };
    const tokenUntil = this.#tokens.get(token.jti);
    if (tokenUntil !== undefined && tokenUntil * 1000 > now) return { kind: 'token', key: token.jti };
    const user = this.#users.get(token.sub);
    if (user && user.expiresAtMs > now && token.iat <= user.notBeforeSec) return { kind: 'user', key: token.sub };
    return undefined;
  }

  /** Forgets entries that can no longer cover a valid token. */
  prune(): number {
    const now = this.#now();
    // Kept while until * 1000 > now, i.e. until > now / 1000.
    const nowSec = Math.floor(now / 1000);
    let removed = this.#sessions.prune(nowSec) + this.#tokens.prune(nowSec);
    for (const [key, user] of this.#users) if (user.expiresAtMs <= now && this.#users.delete(key)) removed += 1;
    return removed;
  }

  /**
   * Resolves with the first revocation matching `target` that is (or gets)
   * applied: an entry id, `{kind?, key}` or a predicate (of the entries applied
   * before the call, the latest 10,000 are looked at). Rejects after `timeoutMs`.
   * Meant for tests and benchmarks: `await gateway.denylist.waitFor({ kind: 'session', key: sid })`.
   */
  waitFor(target: RevocationWaitTarget, timeoutMs = 5000): Promise<Revocation> {
    // Among the entries already applied, only the latest RECENT_ENTRIES are still known whole.
    for (const revocation of this.#recent) {
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
        reject(
          new Error(`no revocation matching ${typeof target === 'function' ? 'predicate' : JSON.stringify(target)} within ${timeoutMs} ms`),
        );
      }, timeoutMs);
      this.on('revoked', onRevoked);
    });
  }
}

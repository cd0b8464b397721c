// Relayed WebSockets indexed by session, user and token id, so that a
// revocation closes exactly the sockets it covers (code 1008) as soon as the
// denylist learns of it, without scanning every socket. Sockets whose upstream
// handshake is still in progress are here too: closing one refuses its client.
import { revocationCovers } from '../revocations/denylist.ts';
import type { Revocation } from '../revocations/entry.ts';
import type { RelayedSocket } from './relay.ts';

export const POLICY_VIOLATION = 1008;

export class SocketRegistry {
  readonly #all = new Set<RelayedSocket>();
  readonly #bySession = new Map<string, Set<RelayedSocket>>();
  readonly #byUser = new Map<string, Set<RelayedSocket>>();
  readonly #byToken = new Map<string, Set<RelayedSocket>>();

  get size(): number {
    return this.#all.size;
  }

  all(): RelayedSocket[] {
    return [...this.#all];
  }

  add(socket: RelayedSocket): void {
    this.#all.add(socket);
    const claims = socket.claims;
    if (!claims) return; // anonymous sockets cannot be revoked
    index(this.#bySession, claims.sid, socket);
    index(this.#byUser, claims.sub, socket);
    index(this.#byToken, claims.jti, socket);
  }

  remove(socket: RelayedSocket): void {
    this.#all.delete(socket);
    const claims = socket.claims;
    if (!claims) return;
    unindex(this.#bySession, claims.sid, socket);
    unindex(this.#byUser, claims.sub, socket);
    unindex(this.#byToken, claims.jti, socket);
  }

  /** The open sockets a revocation covers. */
  covered(revocation: Revocation): RelayedSocket[] {
    const candidates = revocation.kind === 'session' ? this.#bySession : revocation.kind === 'user' ? this.#byUser : this.#byToken;
    return [...(candidates.get(revocation.key) ?? [])].filter((socket) => socket.claims && revocationCovers(revocation, socket.claims));
  }

  /** Closes the sockets a revocation covers with 1008; returns how many. */
  closeRevoked(revocation: Revocation): number {
    const sockets = this.covered(revocation);
    for (const socket of sockets) socket.close(POLICY_VIOLATION, `${revocation.kind} revoked`);
    return sockets.length;
  }
}

function index(map: Map<string, Set<RelayedSocket>>, key: string, socket: RelayedSocket): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(socket);
}

function unindex(map: Map<string, Set<RelayedSocket>>, key: string, socket: RelayedSocket): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(socket);
  if (set.size === 0) map.delete(key);
}

// A revocation-log entry in the form the denylist matches. The wire form is
// the contract's (contract/revocations.ts).
import type { RevocationEntry, RevocationKind } from '../../contract/revocations.ts';

/** An entry ready for matching: instants as numbers. */
export interface Revocation {
  readonly id: number;
  readonly kind: RevocationKind;
  readonly key: string;
  /** kind "user": tokens with iat ≤ this (seconds) are revoked. Infinity when the log gives none. */
  readonly notBeforeSec: number;
  /** After this instant (ms) no token the entry covers can still be valid. */
  readonly expiresAtMs: number;
  /** When the token service wrote it (ms), if the log said. */
  readonly createdAtMs?: number | undefined;
}

export function toRevocation(entry: RevocationEntry): Revocation {
  const expiresAtMs = Date.parse(entry.expires_at);
  if (Number.isNaN(expiresAtMs)) throw new Error(`revocation ${entry.id}: expires_at "${entry.expires_at}" is not an instant`);
  let notBeforeSec = Number.POSITIVE_INFINITY;
  if (entry.not_before) {
    const ms = Date.parse(entry.not_before);
    if (Number.isNaN(ms)) throw new Error(`revocation ${entry.id}: not_before "${entry.not_before}" is not an instant`);
    notBeforeSec = Math.floor(ms / 1000);
  }
  const createdAtMs = entry.created_at ? Date.parse(entry.created_at) : Number.NaN;
  return {
    id: entry.id,
    kind: entry.kind,
    key: entry.key,
    notBeforeSec,
    expiresAtMs,
    createdAtMs: Number.isNaN(createdAtMs) ? undefined : createdAtMs,
  };
}

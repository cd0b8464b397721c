// Stage 3: is this token still alive? Checked on every request, cache or not:
// three map lookups in the denylist that the revocation feed keeps current.
// When the feed has been down longer than allowed, authenticated requests are
// refused rather than served on possibly outdated knowledge.
import type { VerifiedClaims } from '../tokens/claims.ts';
import type { RevocationMatch } from '../revocations/denylist.ts';
import { invalidToken, temporarilyUnavailable, type Rejection } from './rejection.ts';

export interface RevocationSource {
  check(token: Pick<VerifiedClaims, 'sub' | 'sid' | 'jti' | 'iat'>): RevocationMatch | undefined;
}

export interface FeedHealth {
  /** The initial catch-up has completed. */
  synced: boolean;
  stalenessMs: number;
}

const DESCRIPTIONS: Record<RevocationMatch['kind'], string> = {
  session: 'session revoked',
  user: 'user tokens revoked',
  token: 'token revoked',
};

export function checkRevocation(
  claims: VerifiedClaims | undefined,
  denylist: RevocationSource,
  feed: FeedHealth,
  maxStalenessMs: number | undefined,
): Rejection | undefined {
  if (!claims) return undefined;
  const revoked = denylist.check(claims);
  if (revoked) return invalidToken(DESCRIPTIONS[revoked.kind]);
  if (!feed.synced) return temporarilyUnavailable('revocation list not loaded yet');
  if (maxStalenessMs !== undefined && feed.stalenessMs > maxStalenessMs) {
    return temporarilyUnavailable('revocation feed unavailable; cannot confirm the token is not revoked');
  }
  return undefined;
}

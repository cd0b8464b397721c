// Stages 2–4 in order, shared by plain requests and WebSocket upgrades:
// authenticate → check revocation → authorize.
import type { Route } from '../routes/schema.ts';
import type { AccessTokenClaims } from '../tokens/claims.ts';
import { authenticate, type TokenVerifier } from './authenticate.ts';
import { authorize } from './authorize.ts';
import { checkRevocation, type FeedHealth, type RevocationSource } from './check-revocation.ts';
import { reject, type Rejection } from './rejection.ts';

export interface PolicyDependencies {
  verifier: TokenVerifier;
  denylist: RevocationSource;
  feedHealth(): FeedHealth;
  /** Keys fetched and denylist synced: tokens can be judged at all. */
  isReady(): boolean;
  maxStalenessMs: number | undefined;
}

export type PolicyResult = { ok: true; claims: AccessTokenClaims | undefined } | { ok: false; rejection: Rejection };

export async function runPolicy(route: Route, authorization: string | undefined, deps: PolicyDependencies): Promise<PolicyResult> {
  if (route.auth !== 'none' && !deps.isReady()) {
    return { ok: false, rejection: reject(503, 'temporarily_unavailable', 'gateway is starting', { 'retry-after': '1' }) };
  }
  const authenticated = await authenticate(route, authorization, deps.verifier);
  if (!authenticated.ok) return authenticated;
  const { claims } = authenticated;
  const revoked = checkRevocation(claims, deps.denylist, deps.feedHealth(), deps.maxStalenessMs);
  if (revoked) return { ok: false, rejection: revoked };
  const forbidden = authorize(route, claims);
  if (forbidden) return { ok: false, rejection: forbidden };
  return { ok: true, claims };
}

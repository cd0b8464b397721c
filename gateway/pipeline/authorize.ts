// Stage 4: may this caller use this route? Every scope the route lists is
// required (all-of); a missing one is 403 insufficient_scope (RFC 6750 §3.1).
import type { Route } from '../routes/schema.ts';
import type { VerifiedClaims } from '../tokens/claims.ts';
import { insufficientScope, type Rejection } from './rejection.ts';

export function missingScopes(route: Route, claims: VerifiedClaims | undefined): string[] {
  const granted = claims?.scopes ?? [];
  return route.scopes.filter((scope) => !granted.includes(scope));
}

export function authorize(route: Route, claims: VerifiedClaims | undefined): Rejection | undefined {
  // Called on every request: a route lists a few scopes, so a scan beats building a Set.
  const granted = claims?.scopes ?? [];
  for (const scope of route.scopes) if (!granted.includes(scope)) return insufficientScope(route.scopes);
  return undefined;
}

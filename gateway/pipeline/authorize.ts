// Stage 4: may this caller use this route? Every scope the route lists is
// required (all-of); a missing one is 403 insufficient_scope (RFC 6750 §3.1).
import type { Route } from '../routes/schema.ts';
import type { VerifiedClaims } from '../tokens/claims.ts';
import { insufficientScope, type Rejection } from './rejection.ts';

export function missingScopes(route: Route, claims: VerifiedClaims | undefined): string[] {
  const granted = new Set(claims?.scopes ?? []);
  return route.scopes.filter((scope) => !granted.has(scope));
}

export function authorize(route: Route, claims: VerifiedClaims | undefined): Rejection | undefined {
  return missingScopes(route, claims).length === 0 ? undefined : insufficientScope(route.scopes);
}

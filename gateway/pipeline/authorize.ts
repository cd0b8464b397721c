// Stage 4: may this caller use this route? Every scope the route lists is
// required (all-of); a missing one is 403 insufficient_scope (RFC 6750 §3.1).
import type { Route } from '../routes/schema.ts';
import type { AccessTokenClaims } from '../tokens/claims.ts';
import { bearerChallenge, reject, type Rejection } from './rejection.ts';

export function missingScopes(route: Route, claims: AccessTokenClaims | undefined): string[] {
  const granted = new Set(claims?.scopes ?? []);
  return route.scopes.filter((scope) => !granted.has(scope));
}

export function authorize(route: Route, claims: AccessTokenClaims | undefined): Rejection | undefined {
  const missing = missingScopes(route, claims);
  if (missing.length === 0) return undefined;
  const description = `requires scope ${route.scopes.join(' ')}`;
  return reject(403, 'insufficient_scope', description, {
    'www-authenticate': bearerChallenge('insufficient_scope', description, route.scopes.join(' ')),
  });
}

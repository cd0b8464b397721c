import type { TokenService } from '../context.ts';
import { UnauthorizedClient } from '../errors.ts';
import { issueAccessToken } from '../helpers/access-tokens.ts';
import { resolveScope } from '../helpers/scopes.ts';
import type { ClientRow } from '../models/clients.ts';
import type { TokenResponse } from './token-pair.ts';

/** RFC 6749 §4.4: confidential clients only; no refresh token. */
export async function clientCredentialsGrant(
  service: TokenService,
  request: { client: ClientRow; confidential: boolean; scope: string | undefined },
): Promise<TokenResponse> {
  const { client } = request;
  if (!request.confidential || !client.grant_types.includes('client_credentials')) throw new UnauthorizedClient();
  const scope = resolveScope(request.scope, client.scopes);
  const access = await issueAccessToken(
    service.keys,
    { issuer: service.config.ISSUER, lifetimeMs: service.config.ACCESS_TOKEN_TTL, now: service.now() },
    { sub: client.client_id, clientId: client.client_id, scope, audiences: client.audiences },
  );
  return { access_token: access.token, token_type: 'Bearer', expires_in: access.expiresIn, scope };
}

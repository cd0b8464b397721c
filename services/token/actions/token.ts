// POST /oauth/token (RFC 6749): authorization_code, refresh_token, client_credentials and (legacy) password grants.
import type { Middleware } from 'koa';
import type { TokenService } from '../context.ts';
import { UnsupportedGrantType } from '../errors.ts';
import { authenticateClient } from '../auth/client-auth.ts';
import { GRANT_TYPES } from '../models/clients.ts';
import { readDeviceCookie } from '../helpers/device-cookie.ts';
import { bodyParams, requireMediaType } from '../helpers/params.ts';
import { requestInfo } from '../helpers/request-info.ts';
import { authorizationCodeGrant } from '../grants/authorization-code.ts';
import { clientCredentialsGrant } from '../grants/client-credentials.ts';
import { passwordGrant } from '../grants/password.ts';
import { refreshTokenGrant } from '../grants/refresh-token.ts';
import { answerCodeGrant, answerPasswordGrant, answerRefreshGrant, sendTokenResponse } from './token-response.ts';
import { parseParams } from '../schemas/parameters.ts';
import { grantParams, tokenParams } from '../schemas/token.ts';

export function tokenEndpoint(service: TokenService): Middleware {
  return async (ctx) => {
    requireMediaType(ctx, ['urlencoded', 'json']);
    const params = bodyParams(ctx);
    const { grant_type: grantType, scope } = parseParams(tokenParams, params);
    const { client, confidential } = await authenticateClient(ctx, service.clients, params);
    const info = requestInfo(ctx);
    if ((GRANT_TYPES as readonly string[]).includes(grantType)) {
      // Counted once the grant has answered successfully.
      ctx.state.issuedGrant = grantType;
    }
    switch (grantType) {
      case 'authorization_code': {
        const { code, redirect_uri, code_verifier, resource } = parseParams(grantParams.authorization_code, params);
        const result = await authorizationCodeGrant(service, {
          client,
          code,
          redirectUri: redirect_uri,
          codeVerifier: code_verifier,
          resource,
          info,
        });
        answerCodeGrant(ctx, service, result);
        return;
      }
      case 'password': {
        const { login, password } = parseParams(grantParams.password, params);
        const result = await passwordGrant(service, {
          client,
          login,
          password,
          scope,
          info,
          deviceToken: readDeviceCookie(ctx, service.config),
        });
        answerPasswordGrant(ctx, service, result);
        return;
      }
      case 'refresh_token': {
        const { refresh_token: refreshToken } = parseParams(grantParams.refresh_token, params);
        answerRefreshGrant(ctx, service, await refreshTokenGrant(service, { client, refreshToken, scope, info }));
        return;
      }
      case 'client_credentials':
        sendTokenResponse(ctx, await clientCredentialsGrant(service, { client, confidential, scope }));
        return;
      default:
        throw new UnsupportedGrantType(`grant_type ${grantType} is not supported`);
    }
  };
}

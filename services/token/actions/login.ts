// POST /auth/login {username | email, password}: the password grant for the
// first-party public client `web`, without OAuth ceremony.
import type { Middleware } from 'koa';
import type { TokenService } from '../context.ts';
import { readDeviceCookie } from '../helpers/device-cookie.ts';
import { bodyParams, requireMediaType } from '../helpers/params.ts';
import { requestInfo } from '../helpers/request-info.ts';
import { passwordGrant } from '../grants/password.ts';
import { answerPasswordGrant } from './token-response.ts';
import { FIRST_PARTY_CLIENT_ID } from '../models/clients.ts';
import { loginParams } from '../schemas/login.ts';
import { parseParams } from '../schemas/parameters.ts';

export function loginEndpoint(service: TokenService): Middleware {
  return async (ctx) => {
    requireMediaType(ctx, ['json', 'urlencoded']);
    const params = bodyParams(ctx);
    const { login, password, scope } = parseParams(loginParams, params);
    const client = await service.clients.find(FIRST_PARTY_CLIENT_ID);
    if (!client) throw new Error(`the first-party client ${FIRST_PARTY_CLIENT_ID} is missing`);
    const deviceToken = readDeviceCookie(ctx, service.config);
    const result = await passwordGrant(service, { client, login, password, scope, info: requestInfo(ctx), deviceToken });
    answerPasswordGrant(ctx, service, result);
    ctx.state.issuedGrant = 'password';
  };
}

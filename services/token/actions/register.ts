// POST /auth/register {username, email, password} → 201 with the user.
import type { Middleware } from 'koa';
import type { TokenService } from '../context.ts';
import { bodyParams, requireMediaType } from '../helpers/params.ts';
import { checkRegistration } from '../helpers/registration-rules.ts';
import { requestInfo } from '../helpers/request-info.ts';
import { recordAudit } from '../models/audit.ts';
import { addressKey, countAttempt, registrationKey, throttlePolicy, uncountAttempt } from '../models/login-throttles.ts';
import { publicUser, registerUser } from '../models/users.ts';
import { parseParams } from '../schemas/parameters.ts';
import { registerParams } from '../schemas/register.ts';

/**
 * Throttled like login: a place in the hashing queue per address (429/503 at
 * once), then the attempt is counted per address before anything is looked up
 * (429 while the address is locked, after LOGIN_THROTTLE_IP_FREE attempts in
 * the window), and a created account takes its count back. What is left
 * counted are the answers that created nothing: mostly 409s, which tell
 * whether a name exists. Unlike a login, a registration has no right answer
 * that could be let through a locked address without answering the question.
 */
export function registrationEndpoint(service: TokenService): Middleware {
  return async (ctx) => {
    requireMediaType(ctx, ['json', 'urlencoded']);
    const params = bodyParams(ctx);
    const { username, email, password } = checkRegistration(parseParams(registerParams, params));
    const info = requestInfo(ctx);
    const policy = throttlePolicy(service.config);
    const key = registrationKey(info.ip);
    const user = await service.passwords.withSlot(addressKey(info.ip), async (slot) => {
      await countAttempt(service.knex, key, policy.ipFreeFailures, policy, true);
      return registerUser(service.knex, { username, email, password }, (plain) => service.passwords.hash(plain, slot));
    });
    await uncountAttempt(service.knex, key);
    await recordAudit(service.knex, { type: 'user_registered', userId: user.id, ip: info.ip, userAgent: info.userAgent });
    ctx.status = 201;
    ctx.set('Location', '/auth/me');
    ctx.body = publicUser(user);
  };
}

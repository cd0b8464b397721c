// POST /auth/register {username, email, password} → 201 with the user.
import type { Middleware } from 'koa';
import type { TokenService } from '../context.ts';
import { bodyParams, requiredString, requireMediaType } from '../helpers/params.ts';
import { checkRegistration, PASSWORD_MAX_LENGTH } from '../helpers/registration-rules.ts';
import { requestInfo } from '../helpers/request-info.ts';
import { recordAudit } from '../models/audit.ts';
import { publicUser, registerUser } from '../models/users.ts';

export function registrationEndpoint(service: TokenService): Middleware {
  return async (ctx) => {
    requireMediaType(ctx, ['json', 'urlencoded']);
    const params = bodyParams(ctx);
    const { username, email, password } = checkRegistration({
      username: requiredString(params, 'username', { maxLength: 32 }),
      email: requiredString(params, 'email', { maxLength: 254 }),
      password: requiredString(params, 'password', { maxLength: PASSWORD_MAX_LENGTH }),
    });
    const user = await registerUser(service.knex, { username, email, password }, (plain) => service.passwords.hash(plain));
    const info = requestInfo(ctx);
    await recordAudit(service.knex, { type: 'user_registered', userId: user.id, ip: info.ip, userAgent: info.userAgent });
    ctx.status = 201;
    ctx.set('Location', '/auth/me');
    ctx.body = publicUser(user);
  };
}

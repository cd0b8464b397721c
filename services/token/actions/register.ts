// POST /auth/register {username, email, password} → 201 with the user.
import type { Middleware } from 'koa';
import type { TokenService } from '../context.ts';
import { ValidationFailed } from '../errors.ts';
import { bodyParams, requiredString, requireMediaType } from '../helpers/params.ts';
import { requestInfo } from '../helpers/request-info.ts';
import { recordAudit } from '../models/audit.ts';
import { createUser, publicUser } from '../models/users.ts';

const USERNAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$/;
// Deliberately simple: one @, no spaces, a dot in the domain. Deliverability is not our business.
const EMAIL = /^[^\s@]{1,64}@[^\s@.]+(\.[^\s@.]+)+$/;
export const PASSWORD_MIN_LENGTH = 10;
const PASSWORD_MAX_LENGTH = 256;
const COMMON_PASSWORDS = new Set([
  'password123', 'password1234', '1234567890', '12345678910', 'qwertyuiop', 'qwerty1234',
  'iloveyou123', 'passw0rd123', 'letmein1234', 'welcome123', 'adminadmin', 'abc1234567',
]);

export function registrationEndpoint(service: TokenService): Middleware {
  return async (ctx) => {
    requireMediaType(ctx, ['json', 'urlencoded']);
    const params = bodyParams(ctx);
    const username = requiredString(params, 'username', { maxLength: 32 }).normalize('NFKC');
    const email = requiredString(params, 'email', { maxLength: 254 }).normalize('NFKC');
    const password = requiredString(params, 'password', { maxLength: PASSWORD_MAX_LENGTH });
    if (!USERNAME.test(username)) {
      throw new ValidationFailed('username', 'username must be 3-32 characters: letters, digits, ".", "_" or "-", starting with a letter or digit');
    }
    if (!EMAIL.test(email)) throw new ValidationFailed('email', 'email is not a valid address');
    checkPasswordStrength(password, username, email);

    const user = await createUser(service.knex, {
      username,
      email,
      passwordHash: await service.passwords.hash(password),
    });
    const info = requestInfo(ctx);
    await recordAudit(service.knex, { type: 'user_registered', userId: user.id, ip: info.ip, userAgent: info.userAgent });
    ctx.status = 201;
    ctx.set('Location', '/auth/me');
    ctx.body = publicUser(user);
  };
}

function checkPasswordStrength(password: string, username: string, email: string): void {
  if ([...password].length < PASSWORD_MIN_LENGTH) {
    throw new ValidationFailed('password', `password must be at least ${PASSWORD_MIN_LENGTH} characters`);
  }
  const lower = password.toLowerCase();
  if (COMMON_PASSWORDS.has(lower) || new Set(lower).size < 4) {
    throw new ValidationFailed('password', 'password is too easy to guess');
  }
  if (lower.includes(username.toLowerCase()) || lower.includes(email.toLowerCase().split('@')[0] as string)) {
    throw new ValidationFailed('password', 'password must not contain the username or e-mail address');
  }
}

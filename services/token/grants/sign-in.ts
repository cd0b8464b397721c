// Signing in at the login page: the password check the password grant uses
// (same throttling, same answer for an unknown user and a wrong password), then
// a sign-in session (single sign-on) instead of a token pair.
import type { TokenService } from '../context.ts';
import type { RequestInfo } from '../helpers/request-info.ts';
import { recordAudit } from '../models/audit.ts';
import type { ClientRow } from '../models/clients.ts';
import { rememberDevice } from '../models/devices.ts';
import { createSigninSession, type SigninSessionRow } from '../models/signin-sessions.ts';
import type { UserRow } from '../models/users.ts';
import { checkCredentials, type LoginFailureReason } from './password.ts';

export type SignInResult =
  | {
      kind: 'signed_in';
      signin: SigninSessionRow;
      user: UserRow;
      /** The sign-in cookie's token (only its hash is stored). */
      token: string;
      deviceToken: string;
    }
  | { kind: 'refused'; reason: LoginFailureReason; error: unknown };

export async function signIn(
  service: TokenService,
  request: { client: ClientRow; login: string; password: string; info: RequestInfo; deviceToken: string | undefined },
): Promise<SignInResult> {
  const checked = await checkCredentials(service, request);
  if (checked.kind === 'refused') return checked;
  const { user, device } = checked;
  const now = service.now();
  return service.knex.transaction(async (trx) => {
    const { token, row } = await createSigninSession(trx, {
      userId: user.id,
      authTime: new Date(now),
      expiresAt: new Date(now + service.config.SIGNIN_SESSION_TTL),
      ip: request.info.ip,
      userAgent: request.info.userAgent,
    });
    const deviceToken = await rememberDevice(trx, user.id, device);
    await recordAudit(trx, {
      type: 'login_succeeded',
      userId: user.id,
      clientId: request.client.client_id,
      ip: request.info.ip,
      userAgent: request.info.userAgent,
      details: { via: 'login_page', signin_session: row.id, device: device ? 'known' : 'new' },
    });
    return { kind: 'signed_in', signin: row, user, token, deviceToken };
  });
}

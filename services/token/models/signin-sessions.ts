// Sign-in sessions: single sign-on at the token service. One per successful
// login at the login page; the browser's cookie holds a random token and this
// table only its SHA-256. Refresh-token families issued through one record it
// (sessions.signin_session_id), so that ending it ends every app's tokens.
import type { Knex } from 'knex';
import { isUuid } from '../../../db/identifiers.ts';
import { randomToken, sha256Hex } from '../helpers/secrets.ts';
import { revokeSessions, type RevokeSessionsOptions } from './sessions.ts';

export interface SigninSessionRow {
  id: string;
  token_hash: string;
  user_id: string;
  auth_time: Date;
  created_at: Date;
  expires_at: Date;
  ended_at: Date | null;
  ended_reason: string | null;
  ip: string | null;
  user_agent: string | null;
}

export async function createSigninSession(
  trx: Knex | Knex.Transaction,
  fields: { userId: string; authTime: Date; expiresAt: Date; ip: string | null; userAgent: string | null },
): Promise<{ token: string; row: SigninSessionRow }> {
  const token = randomToken(32);
  const [row] = await trx<SigninSessionRow>('signin_sessions')
    .insert({
      token_hash: sha256Hex(token),
      user_id: fields.userId,
      auth_time: fields.authTime,
      expires_at: fields.expiresAt,
      ip: fields.ip,
      user_agent: fields.userAgent,
    })
    .returning('*');
  return { token, row: row as SigninSessionRow };
}

/** The live sign-in session a cookie's token stands for (not ended, not expired, its user enabled). */
export async function findLiveSigninSession(knex: Knex, token: string, now: number): Promise<SigninSessionRow | undefined> {
  const row = await knex<SigninSessionRow>('signin_sessions')
    .join('users', 'users.id', 'signin_sessions.user_id')
    .where({ 'signin_sessions.token_hash': sha256Hex(token) })
    .whereNull('signin_sessions.ended_at')
    .whereNull('users.disabled_at')
    .andWhere('signin_sessions.expires_at', '>', new Date(now))
    .first('signin_sessions.*');
  return row;
}

export async function findSigninSession(knex: Knex, id: string): Promise<SigninSessionRow | undefined> {
  if (!isUuid(id)) return undefined;
  return knex<SigninSessionRow>('signin_sessions').where({ id }).first();
}

/**
 * Ends a sign-in session and revokes every live family issued through it, in
 * the caller's transaction. Returns the revoked family ids; nothing is written
 * when it had ended already.
 */
export async function endSigninSession(
  trx: Knex.Transaction,
  id: string,
  options: Omit<RevokeSessionsOptions, 'reason'> & { reason: 'end_session' | 'revoked_by_user' },
): Promise<{ ended: boolean; familiesRevoked: string[] }> {
  const ended = await trx('signin_sessions')
    .where({ id })
    .whereNull('ended_at')
    .update({ ended_at: new Date(options.now ?? Date.now()), ended_reason: options.reason });
  const familiesRevoked = await revokeSessions(trx, (q) => q.where({ signin_session_id: id }), options);
  return { ended: ended > 0, familiesRevoked };
}

/** A user's live sign-in sessions with the apps (client ids) whose live families came through each. */
export async function listLiveSigninSessions(
  knex: Knex,
  userId: string,
  now: number,
): Promise<Array<SigninSessionRow & { client_ids: string[] }>> {
  const rows = await knex('signin_sessions as ss')
    .leftJoin('sessions as s', (join) => join.on('s.signin_session_id', 'ss.id').andOnNull('s.revoked_at'))
    .where('ss.user_id', userId)
    .whereNull('ss.ended_at')
    .andWhere('ss.expires_at', '>', new Date(now))
    .groupBy('ss.id')
    .orderBy('ss.created_at', 'desc')
    .limit(100)
    .select('ss.*', knex.raw("coalesce(array_agg(DISTINCT s.client_id) FILTER (WHERE s.client_id IS NOT NULL), '{}') AS client_ids"));
  return rows as Array<SigninSessionRow & { client_ids: string[] }>;
}

// Sessions are refresh-token families: one per login, carried forward by
// every rotation, revoked as a whole.
import type { Knex } from 'knex';
import { isUuid } from '../../../db/identifiers.ts';
import { recordAudit, type AuditEvent } from './audit.ts';
import { enqueueLogoutDeliveries } from './logout-deliveries.ts';
import { recordRevocation } from './revocations.ts';
import { lockUser } from './users.ts';

export interface SessionRow {
  id: string;
  user_id: string;
  client_id: string;
  scope: string;
  audiences: string[];
  created_at: Date;
  last_refreshed_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
  revoked_reason: string | null;
  user_agent: string | null;
  ip: string | null;
  /** The sign-in session (single sign-on) the family was issued through; null for API grants. */
  signin_session_id: string | null;
}

export type RevocationReason =
  | 'logout'
  | 'logout_global'
  | 'logout_others'
  | 'refresh_token_reuse'
  | 'revoked_by_client'
  | 'revoked_by_user'
  | 'user_disabled'
  | 'session_limit'
  | 'admin'
  | 'end_session'
  | 'consent_withdrawn'
  | 'authorization_code_reuse';

export async function createSession(
  trx: Knex.Transaction,
  fields: {
    userId: string;
    clientId: string;
    scope: string;
    audiences: string[];
    expiresAt: Date;
    ip: string | null;
    userAgent: string | null;
    signinSessionId?: string | null;
  },
): Promise<SessionRow> {
  const [session] = await trx<SessionRow>('sessions')
    .insert({
      user_id: fields.userId,
      client_id: fields.clientId,
      scope: fields.scope,
      audiences: fields.audiences,
      expires_at: fields.expiresAt,
      ip: fields.ip,
      user_agent: fields.userAgent,
      signin_session_id: fields.signinSessionId ?? null,
    })
    .returning('*');
  return session as SessionRow;
}

export async function findSession(knex: Knex, id: string): Promise<SessionRow | undefined> {
  if (!isUuid(id)) return undefined;
  return knex<SessionRow>('sessions').where({ id }).first();
}

/** Locks the session row for the rest of the transaction (serialises refresh and logout). */
export async function lockSession(trx: Knex.Transaction, id: string): Promise<SessionRow | undefined> {
  return trx<SessionRow>('sessions').where({ id }).forUpdate().first();
}

/**
 * A session is live while it is not revoked, not past its absolute expiry,
 * and used (created or refreshed) within the idle lifetime: once its refresh
 * token has idle-expired nothing can revive it. whereLive() is the same rule
 * in SQL, and rotate_refresh_token (migration 0008) applies it too: change them together.
 */
export function isSessionLive(session: SessionRow, idleTtlMs: number, now = Date.now()): boolean {
  return session.revoked_at === null && session.expires_at.getTime() > now && session.last_refreshed_at.getTime() > now - idleTtlMs;
}

function whereLive(query: Knex.QueryBuilder, idleTtlMs: number, now = Date.now()): Knex.QueryBuilder {
  return query
    .whereNull('revoked_at')
    .andWhere('expires_at', '>', new Date(now))
    .andWhere('last_refreshed_at', '>', new Date(now - idleTtlMs));
}

/** Where a page of sessions ends: created_at in microseconds (the column's precision), then id. */
export interface SessionCursor {
  createdUs: number;
  id: string;
}

export type ListedSession = SessionRow & { created_us: number };

/** A user's live sessions, newest first; one page of them when `page` is given. */
export async function listLiveSessions(
  knex: Knex,
  userId: string,
  idleTtlMs: number,
  page?: { limit: number; after?: SessionCursor | undefined },
  now = Date.now(),
): Promise<ListedSession[]> {
  const createdUs = knex.raw('(extract(epoch from created_at) * 1000000)::bigint');
  const query = whereLive(knex('sessions').where({ user_id: userId }), idleTtlMs, now)
    .select('*', knex.raw('(extract(epoch from created_at) * 1000000)::bigint AS created_us'))
    .orderBy('created_at', 'desc')
    .orderBy('id', 'desc');
  if (page?.after) query.andWhereRaw('(?, id) < (?, ?::uuid)', [createdUs, page.after.createdUs, page.after.id]);
  if (page) query.limit(page.limit);
  return query;
}

export interface RevokeSessionsOptions {
  reason: RevocationReason;
  /** How long an access token issued for these sessions can still be valid. */
  accessTokenLifetimeMs: number;
  /** The current time (ms since the epoch); Date.now() when not given. */
  now?: number | undefined;
}

/**
 * Revokes every live session matched by `where` and writes one revocation
 * entry per session, and the back-channel logouts owed, in the caller's
 * transaction. Returns the revoked ids.
 */
export async function revokeSessions(
  trx: Knex.Transaction,
  where: (query: Knex.QueryBuilder) => void,
  options: RevokeSessionsOptions,
): Promise<string[]> {
  const revoked: Array<{ id: string }> = await trx('sessions')
    .whereNull('revoked_at')
    .andWhere(where)
    .update({ revoked_at: trx.fn.now(), revoked_reason: options.reason })
    .returning('id');
  const expiresAt = revocationExpiry(options.accessTokenLifetimeMs, options.now);
  for (const { id } of revoked) {
    await recordRevocation(trx, { kind: 'session', key: id, expiresAt });
  }
  const ids = revoked.map(({ id }) => id);
  await enqueueLogoutDeliveries(trx, ids);
  return ids;
}

/**
 * Makes room for one more session of a user, within `max` live ones: the least
 * recently used are revoked, each with its revocation entry and an audit event
 * (reason session_limit). Call it under lockUser(), so that concurrent logins
 * of one user count one after the other. Returns the revoked ids.
 */
export async function makeRoomForSession(
  trx: Knex.Transaction,
  userId: string,
  options: Omit<RevokeSessionsOptions, 'reason'> & {
    max: number;
    idleTtlMs: number;
    audit: Omit<AuditEvent, 'type' | 'sessionId' | 'userId'>;
  },
): Promise<string[]> {
  const live = whereLive(trx('sessions').where({ user_id: userId }), options.idleTtlMs, options.now);
  const [{ count } = { count: 0 }] = (await live.clone().count('* as count')) as Array<{ count: number | string }>;
  const excess = Number(count) - options.max + 1;
  if (excess <= 0) return [];
  const oldest = live.clone().orderBy('last_refreshed_at', 'asc').orderBy('created_at', 'asc').limit(excess).select('id');
  const revoked = await revokeSessions(trx, (q) => q.whereIn('id', oldest), { ...options, reason: 'session_limit' });
  for (const sessionId of revoked) {
    await recordAudit(trx, {
      ...options.audit,
      type: 'session_revoked',
      userId,
      sessionId,
      details: { reason: 'session_limit', limit: options.max },
    });
  }
  return revoked;
}

/**
 * Logout everywhere: ends every sign-in session of the user and revokes every live session in one UPDATE and
 * writes ONE revocation entry of kind `user` (not one per session), covering
 * every access token issued up to now. Nothing is written when no session was
 * live: all of the user's tokens are covered already. Returns the revoked ids.
 *
 * Order: the user row first (so a login of this user either commits before,
 * and its session is revoked here, or waits and then issues tokens past this
 * instant), then the sessions (a refresh in flight commits first), and only
 * then the instant, so that every token issued before it is covered.
 */
export async function revokeUserSessions(trx: Knex.Transaction, userId: string, options: RevokeSessionsOptions): Promise<string[]> {
  await lockUser(trx, userId);
  const revoked: Array<{ id: string }> = await trx('sessions')
    .where({ user_id: userId })
    .whereNull('revoked_at')
    .update({ revoked_at: trx.fn.now(), revoked_reason: options.reason })
    .returning('id');
  // Every sign-in (single sign-on) ends too: the next app to ask gets the password form, not a silent code,
  // and re-enabling a disabled user does not bring an old sign-in back.
  await trx('signin_sessions')
    .where({ user_id: userId })
    .whereNull('ended_at')
    .update({ ended_at: new Date(options.now ?? Date.now()), ended_reason: options.reason });
  if (revoked.length === 0) return [];
  const notBefore = new Date(options.now ?? Date.now());
  await trx('users').where({ id: userId }).update({ tokens_valid_after: notBefore });
  await recordRevocation(trx, {
    kind: 'user',
    key: userId,
    notBefore,
    expiresAt: revocationExpiry(options.accessTokenLifetimeMs, options.now),
  });
  // One revocation entry for the user, but each family's client hears of its own logout.
  const ids = revoked.map(({ id }) => id);
  await enqueueLogoutDeliveries(trx, ids);
  return ids;
}

/**
 * Revokes one session in its own transaction and records who did it.
 * Returns false when it was already revoked (nothing is written then).
 */
export async function revokeSession(
  knex: Knex,
  sessionId: string,
  options: RevokeSessionsOptions & { audit: Omit<AuditEvent, 'type' | 'sessionId'> },
): Promise<boolean> {
  return knex.transaction(async (trx) => {
    const revoked = await revokeSessions(trx, (q) => q.where({ id: sessionId }), options);
    if (revoked.length > 0) await recordAudit(trx, { ...options.audit, type: 'session_revoked', sessionId });
    return revoked.length > 0;
  });
}

/** Access tokens live at most their lifetime; a minute more covers gateways' clock tolerance. */
export function revocationExpiry(accessTokenLifetimeMs: number, now = Date.now()): Date {
  return new Date(now + accessTokenLifetimeMs + 60_000);
}

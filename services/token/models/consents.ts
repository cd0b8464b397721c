// Consents: what a user allowed a third-party client, remembered per user and
// client. Withdrawing one revokes that client's families of the user.
import type { Knex } from 'knex';
import { clientIdProblem } from './clients.ts';
import { revokeSessions, type RevokeSessionsOptions } from './sessions.ts';

export interface ConsentRow {
  user_id: string;
  client_id: string;
  scopes: string[];
  granted_at: Date;
}

export async function findConsent(knex: Knex, userId: string, clientId: string): Promise<ConsentRow | undefined> {
  return knex<ConsentRow>('consents').where({ user_id: userId, client_id: clientId }).first();
}

/** Remembers the scopes, added to those already granted. */
export async function grantConsent(knex: Knex, userId: string, clientId: string, scopes: readonly string[]): Promise<void> {
  await knex.raw(
    `INSERT INTO consents (user_id, client_id, scopes) VALUES (?, ?, ?::text[])
     ON CONFLICT (user_id, client_id) DO UPDATE
       SET scopes = ARRAY(SELECT DISTINCT unnest(consents.scopes || EXCLUDED.scopes) ORDER BY 1), granted_at = now()`,
    [userId, clientId, [...scopes]],
  );
}

export async function listConsents(knex: Knex, userId: string): Promise<ConsentRow[]> {
  return knex<ConsentRow>('consents').where({ user_id: userId }).orderBy('granted_at', 'desc');
}

/** Forgets the consent and revokes the client's live families of the user, in the caller's transaction. */
export async function withdrawConsent(
  trx: Knex.Transaction,
  userId: string,
  clientId: string,
  options: Omit<RevokeSessionsOptions, 'reason'>,
): Promise<{ withdrawn: boolean; familiesRevoked: string[] }> {
  // No client has such an id, and PostgreSQL refuses some (a NUL byte).
  if (clientIdProblem(clientId) !== undefined) return { withdrawn: false, familiesRevoked: [] };
  const deleted = await trx('consents').where({ user_id: userId, client_id: clientId }).del();
  const familiesRevoked = await revokeSessions(trx, (q) => q.where({ user_id: userId, client_id: clientId }), {
    ...options,
    reason: 'consent_withdrawn',
  });
  return { withdrawn: deleted > 0, familiesRevoked };
}

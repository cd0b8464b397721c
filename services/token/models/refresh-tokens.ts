import type { Knex } from 'knex';
import { randomToken, sha256Hex } from '../helpers/secrets.ts';
import type { SessionRow } from './sessions.ts';

export interface RefreshTokenRow {
  id: number;
  session_id: string;
  parent_id: number | null;
  token_hash: string;
  issued_at: Date;
  expires_at: Date;
  consumed_at: Date | null;
}

/** Mints a family's first refresh token (children are stored by rotate_refresh_token); only its hash is stored. */
export async function issueRefreshToken(
  trx: Knex.Transaction,
  fields: { sessionId: string; expiresAt: Date },
): Promise<{ token: string; row: RefreshTokenRow }> {
  const token = randomToken(32);
  const [row] = await trx<RefreshTokenRow>('refresh_tokens')
    .insert({
      session_id: fields.sessionId,
      token_hash: sha256Hex(token),
      expires_at: fields.expiresAt,
    })
    .returning('*');
  return { token, row: row as RefreshTokenRow };
}

export async function findRefreshToken(knex: Knex, token: string): Promise<RefreshTokenRow | undefined> {
  return knex<RefreshTokenRow>('refresh_tokens')
    .where({ token_hash: sha256Hex(token) })
    .first();
}

export async function findRefreshTokenById(knex: Knex, id: number): Promise<RefreshTokenRow | undefined> {
  return knex<RefreshTokenRow>('refresh_tokens').where({ id }).first();
}

/** The live (unconsumed) child of a token, if the family moved on from it. */
export async function findLiveChild(trx: Knex.Transaction, parentId: number): Promise<RefreshTokenRow | undefined> {
  return trx<RefreshTokenRow>('refresh_tokens').where({ parent_id: parentId }).whereNull('consumed_at').first();
}

export type RotationResult =
  | { outcome: 'unknown' }
  | { outcome: 'rejected'; reason: string }
  /** The requested scope is wider than the family's (`scope`). */
  | { outcome: 'invalid_scope'; scope: string }
  /** Someone consumed the token first (presentedId, sessionId): grace or reuse, decided under the family lock. */
  | { outcome: 'consumed'; presentedId: number; sessionId: string }
  | {
      /** rotated: the token consumed and a child stored; renewed: the token kept (a client that does not rotate). */
      outcome: 'rotated' | 'renewed';
      /** The child's secret (only its hash was stored); undefined when renewed. */
      token: string | undefined;
      session: Pick<SessionRow, 'id' | 'user_id' | 'client_id' | 'scope' | 'audiences'>;
      tokensValidAfter: Date | null;
    };

interface RotationRow {
  outcome: RotationResult['outcome'];
  reason: string | null;
  presented_id: string | number | null;
  session_id: string | null;
  user_id: string | null;
  scope: string | null;
  audiences: string[] | null;
  tokens_valid_after: Date | null;
}

/**
 * Rotates a refresh token in one statement (the rotate_refresh_token function,
 * migration 0008): checks the family and the requested scope tokens (`scope`,
 * undefined when none was requested), consumes the token and stores its child (or, for a client
 * that does not rotate, slides its expiry),
 * touches the session and audits, or says why not.
 */
export async function rotateRefreshToken(
  knex: Knex,
  input: {
    token: string;
    clientId: string;
    scope: readonly string[] | undefined;
    now: number;
    idleTtlMs: number;
    ip: string | null;
    userAgent: string | null;
    /** The client's policy (clients.rotate_refresh_tokens). */
    rotate: boolean;
  },
): Promise<RotationResult> {
  const child = randomToken(32);
  const result = await knex.raw<{ rows: RotationRow[] }>(
    'SELECT * FROM rotate_refresh_token(?, ?, ?, ?::interval, ?::text[], ?, ?, ?, ?)',
    [
      sha256Hex(input.token),
      input.clientId,
      new Date(input.now),
      `${input.idleTtlMs} milliseconds`,
      input.scope ? [...input.scope] : null,
      sha256Hex(child),
      input.ip,
      input.userAgent,
      input.rotate,
    ],
  );
  const row = result.rows[0] as RotationRow;
  switch (row.outcome) {
    case 'unknown':
      return { outcome: 'unknown' };
    case 'rejected':
      return { outcome: 'rejected', reason: row.reason ?? '' };
    case 'invalid_scope':
      return { outcome: 'invalid_scope', scope: row.scope as string };
    case 'consumed':
      return { outcome: 'consumed', presentedId: Number(row.presented_id), sessionId: row.session_id as string };
    case 'rotated':
    case 'renewed':
      return {
        outcome: row.outcome,
        token: row.outcome === 'rotated' ? child : undefined,
        session: {
          id: row.session_id as string,
          user_id: row.user_id as string,
          client_id: input.clientId,
          scope: row.scope as string,
          audiences: row.audiences as string[],
        },
        tokensValidAfter: row.tokens_valid_after,
      };
  }
}

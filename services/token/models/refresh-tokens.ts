import type { Knex } from 'knex';
import { randomToken, sha256Hex } from '../helpers/secrets.ts';

export interface RefreshTokenRow {
  id: number;
  session_id: string;
  parent_id: number | null;
  token_hash: string;
  issued_at: Date;
  expires_at: Date;
  consumed_at: Date | null;
}

/** Mints a refresh token; only its hash is stored. */
export async function issueRefreshToken(
  trx: Knex.Transaction,
  fields: { sessionId: string; parentId: number | null; expiresAt: Date },
): Promise<{ token: string; row: RefreshTokenRow }> {
  const token = randomToken(32);
  const [row] = await trx<RefreshTokenRow>('refresh_tokens')
    .insert({
      session_id: fields.sessionId,
      parent_id: fields.parentId,
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

/**
 * Consumes the token if, and only if, nobody has yet: the single UPDATE is the
 * atomic step that stops two concurrent refreshes from both minting a child.
 */
export async function consumeRefreshToken(trx: Knex.Transaction, id: number): Promise<RefreshTokenRow | undefined> {
  const [row] = await trx<RefreshTokenRow>('refresh_tokens')
    .where({ id })
    .whereNull('consumed_at')
    .update({ consumed_at: trx.fn.now() })
    .returning('*');
  return row as RefreshTokenRow | undefined;
}

/** The live (unconsumed) child of a token, if the family moved on from it. */
export async function findLiveChild(trx: Knex.Transaction, parentId: number): Promise<RefreshTokenRow | undefined> {
  return trx<RefreshTokenRow>('refresh_tokens').where({ parent_id: parentId }).whereNull('consumed_at').first();
}

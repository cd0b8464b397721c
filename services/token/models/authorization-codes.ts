// Authorization codes (RFC 6749 §4.1): 256 random bits, stored by SHA-256
// only, single-use, short-lived, bound to everything the authorization request
// decided. A consumed code remembers the family issued from it, so that a
// replay revokes that family (RFC 6749 §4.1.2).
import type { Knex } from 'knex';
import { randomToken, sha256Hex } from '../helpers/secrets.ts';

export interface AuthorizationCodeRow {
  code_hash: string;
  client_id: string;
  user_id: string;
  signin_session_id: string;
  redirect_uri: string;
  code_challenge: string;
  scope: string;
  audiences: string[];
  nonce: string | null;
  auth_time: Date;
  created_at: Date;
  expires_at: Date;
  consumed_at: Date | null;
  session_id: string | null;
}

export type CodeGrant = Omit<AuthorizationCodeRow, 'code_hash' | 'created_at' | 'consumed_at' | 'session_id'>;

export async function storeAuthorizationCode(knex: Knex, grant: CodeGrant): Promise<string> {
  const code = randomToken(32);
  await knex('authorization_codes').insert({ ...grant, code_hash: sha256Hex(code) });
  return code;
}

/** The code's row, locked for the rest of the transaction (two presentations run one after the other). */
export async function lockAuthorizationCode(trx: Knex.Transaction, code: string): Promise<AuthorizationCodeRow | undefined> {
  return trx<AuthorizationCodeRow>('authorization_codes')
    .where({ code_hash: sha256Hex(code) })
    .forUpdate()
    .first();
}

export async function consumeAuthorizationCode(
  trx: Knex.Transaction,
  codeHash: string,
  now: Date,
  sessionId: string | null,
): Promise<void> {
  await trx('authorization_codes').where({ code_hash: codeHash }).update({ consumed_at: now, session_id: sessionId });
}

import type { Knex } from 'knex';
import { canonicalIdentifier } from '../../../db/identifiers.ts';
import { Conflict } from '../errors.ts';

export interface UserRow {
  id: string;
  username: string;
  email: string;
  username_canonical: string;
  email_canonical: string;
  password_hash: string;
  created_at: Date;
  disabled_at: Date | null;
  /** Access tokens of this user issued at or before this instant are revoked (its last global logout). */
  tokens_valid_after: Date | null;
}

/** What a client may see of a user: never the password hash. */
export interface PublicUser {
  id: string;
  username: string;
  email: string;
  created_at: string;
}

export function publicUser(user: UserRow): PublicUser {
  return { id: user.id, username: user.username, email: user.email, created_at: user.created_at.toISOString() };
}

// One sentence for both fields: saying which one is taken would tell a prober
// more than it needs (README, "Security model").
export const ALREADY_REGISTERED = 'username or email is already registered';

/** Is the username or the e-mail address taken? Compares canonical forms only. */
export async function isRegistered(knex: Knex, fields: { username: string; email: string }): Promise<boolean> {
  const hit = await knex('users')
    .where({ username_canonical: canonicalIdentifier(fields.username) })
    .orWhere({ email_canonical: canonicalIdentifier(fields.email) })
    .first('id');
  return hit !== undefined;
}

/**
 * Creates a user after checking, before any password is hashed, that neither
 * identifier is taken: a duplicate costs a query, not a hash.
 */
export async function registerUser(
  knex: Knex,
  fields: { username: string; email: string; password: string },
  hashPassword: (password: string) => Promise<string>,
): Promise<UserRow> {
  if (await isRegistered(knex, fields)) throw new Conflict(ALREADY_REGISTERED);
  return createUser(knex, { username: fields.username, email: fields.email, passwordHash: await hashPassword(fields.password) });
}

async function createUser(knex: Knex, fields: { username: string; email: string; passwordHash: string }): Promise<UserRow> {
  try {
    const [user] = await knex<UserRow>('users')
      .insert({
        username: fields.username,
        email: fields.email,
        username_canonical: canonicalIdentifier(fields.username),
        email_canonical: canonicalIdentifier(fields.email),
        password_hash: fields.passwordHash,
      })
      .returning('*');
    return user as UserRow;
  } catch (error) {
    // The unique indexes decide races that isRegistered() could not see.
    if ((error as { code?: string }).code === '23505') throw new Conflict(ALREADY_REGISTERED);
    throw error;
  }
}

/** Finds a user by username or e-mail address, in canonical form. */
export async function findUserByLogin(knex: Knex, login: string): Promise<UserRow | undefined> {
  // PostgreSQL refuses a NUL byte in text, and registration lets none into a username or address.
  if (login.includes('\u0000')) return undefined;
  const canonical = canonicalIdentifier(login);
  return knex<UserRow>('users').where({ username_canonical: canonical }).orWhere({ email_canonical: canonical }).first();
}

export async function findUserById(knex: Knex, id: string): Promise<UserRow | undefined> {
  return knex<UserRow>('users').where({ id }).first();
}

/**
 * Locks a user's row for the rest of the transaction: logins and global
 * logouts of one user take it first, so they happen one after the other.
 */
export async function lockUser(trx: Knex.Transaction, id: string): Promise<UserRow | undefined> {
  return trx<UserRow>('users').where({ id }).forNoKeyUpdate().first();
}

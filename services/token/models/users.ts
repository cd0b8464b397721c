import type { Knex } from 'knex';
import { Conflict } from '../errors.ts';

export interface UserRow {
  id: string;
  username: string;
  email: string;
  password_hash: string;
  created_at: Date;
  disabled_at: Date | null;
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

export async function createUser(
  knex: Knex,
  fields: { username: string; email: string; passwordHash: string },
): Promise<UserRow> {
  try {
    const [user] = await knex<UserRow>('users')
      .insert({ username: fields.username, email: fields.email, password_hash: fields.passwordHash })
      .returning('*');
    return user as UserRow;
  } catch (error) {
    const { code, constraint } = error as { code?: string; constraint?: string };
    if (code === '23505') {
      throw new Conflict(constraint === 'users_email_lower' ? 'email is already registered' : 'username is taken');
    }
    throw error;
  }
}

/** Finds a user by username or e-mail address, case-insensitively. */
export async function findUserByLogin(knex: Knex, login: string): Promise<UserRow | undefined> {
  return knex<UserRow>('users')
    .whereRaw('lower(username) = lower(?)', [login])
    .orWhereRaw('lower(email) = lower(?)', [login])
    .first();
}

export async function findUserById(knex: Knex, id: string): Promise<UserRow | undefined> {
  return knex<UserRow>('users').where({ id }).first();
}

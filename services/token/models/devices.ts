// Devices that have signed in to an account (OWASP, "Slow down online guessing
// attacks with device cookies"). A device cookie does not authenticate
// anyone; it only vouches that an attempt comes from a browser or client the
// account's owner has used, which lets it past an account lock that strangers
// caused. Each device has its own small allowance of failures; once used up,
// the device is forgotten and its cookie vouches for nothing.
import type { Knex } from 'knex';
import { randomToken, sha256Hex } from '../helpers/secrets.ts';

export interface DeviceRow {
  id: string;
  user_id: string;
  token_hash: string;
  created_at: Date;
  last_used_at: Date;
  failures: number;
}

/** Devices remembered per user; the least recently used go first. */
export const MAX_DEVICES_PER_USER = 20;

export interface DevicePolicy {
  /** Wrong passwords a device may send (between two successes) before it is forgotten. */
  freeFailures: number;
  /** A device unused this long is forgotten. */
  lifetimeMs: number;
}

/** The device a cookie names, if it is bound to this user, recent and within its allowance. */
export async function findDevice(
  knex: Knex,
  token: string,
  userId: string,
  policy: DevicePolicy,
  now = Date.now(),
): Promise<DeviceRow | undefined> {
  return knex<DeviceRow>('login_devices')
    .where({ token_hash: sha256Hex(token), user_id: userId })
    .andWhere('failures', '<', policy.freeFailures)
    .andWhere('last_used_at', '>', new Date(now - policy.lifetimeMs))
    .first();
}

/**
 * Counts an attempt through the device before hashing, in one statement.
 * False when the device has used its allowance meanwhile: it vouches no more.
 */
export async function countDeviceAttempt(knex: Knex, id: string, policy: DevicePolicy): Promise<boolean> {
  const updated = await knex('login_devices')
    .where({ id })
    .andWhere('failures', '<', policy.freeFailures)
    .update({ failures: knex.raw('failures + 1') });
  return updated === 1;
}

/** After a wrong password: a device that has used its allowance is forgotten. */
export async function settleDeviceFailure(knex: Knex, id: string, policy: DevicePolicy): Promise<void> {
  await knex('login_devices').where({ id }).andWhere('failures', '>=', policy.freeFailures).del();
}

/**
 * After a successful login: the device that vouched starts afresh, or a new
 * one is remembered (the oldest beyond MAX_DEVICES_PER_USER are forgotten).
 * Returns the token for the cookie.
 */
export async function rememberDevice(
  trx: Knex.Transaction,
  userId: string,
  vouched: { id: string; token: string } | undefined,
): Promise<string> {
  if (vouched) {
    await trx('login_devices').where({ id: vouched.id }).update({ failures: 0, last_used_at: trx.fn.now() });
    return vouched.token;
  }
  const token = randomToken(32);
  await trx('login_devices').insert({ user_id: userId, token_hash: sha256Hex(token) });
  await trx.raw(
    `DELETE FROM login_devices WHERE id IN (
       SELECT id FROM login_devices WHERE user_id = ? ORDER BY last_used_at DESC, created_at DESC OFFSET ?)`,
    [userId, MAX_DEVICES_PER_USER],
  );
  return token;
}

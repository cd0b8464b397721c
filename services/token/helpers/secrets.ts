import crypto from 'node:crypto';

/** Client secrets are high-entropy by rule, which is what lets us store a plain SHA-256 of them. */
export const MIN_CLIENT_SECRET_LENGTH = 32;

/** 256 bits of randomness, base64url (43 characters). */
export function randomToken(bytes = 32): string {
  return crypto.randomBytes(bytes).toString('base64url');
}

export function sha256Hex(value: string): string {
  return crypto.createHash('sha256').update(value, 'utf8').digest('hex');
}

export { safeEqual } from '../../../common/secrets.ts';

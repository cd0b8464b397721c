// Constant-time comparison of secrets, for every deployable.
import crypto from 'node:crypto';

/** Constant-time equality of two strings of any length. */
export function safeEqual(a: string, b: string): boolean {
  // Comparing fixed-size digests keeps the time independent of where (and
  // whether) the inputs differ, including their lengths.
  const left = crypto.createHash('sha256').update(a, 'utf8').digest();
  const right = crypto.createHash('sha256').update(b, 'utf8').digest();
  return crypto.timingSafeEqual(left, right) && a.length === b.length;
}

/** Does an Authorization header carry exactly this static bearer secret? */
export function bearerSecretMatches(authorization: string | undefined, expected: string): boolean {
  const presented = /^Bearer (.+)$/i.exec(authorization ?? '')?.[1];
  return presented !== undefined && safeEqual(presented, expected);
}

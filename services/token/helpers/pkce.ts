// PKCE (RFC 7636) with S256 only: `plain` would hand the verifier to anyone who
// sees the authorization request.
import crypto from 'node:crypto';
import { safeEqual } from './secrets.ts';

/** RFC 7636 §4.1: code_verifier = 43*128unreserved; the S256 challenge has the same alphabet (43 characters). */
export const PKCE_VALUE = /^[A-Za-z0-9._~-]{43,128}$/;

export function s256Challenge(verifier: string): string {
  return crypto.createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/** Does `verifier` answer `challenge`? Compared in constant time. */
export function verifierMatches(verifier: string, challenge: string): boolean {
  return PKCE_VALUE.test(verifier) && safeEqual(s256Challenge(verifier), challenge);
}

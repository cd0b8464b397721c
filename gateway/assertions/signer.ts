// Signing an assertion: an RS256 compact JWS (RFC 7515 §7.1) made with
// node:crypto, whose callback form runs the RSA operation on libuv's thread
// pool rather than the event loop. The header is always ours, so nothing here
// needs a JOSE library; apps verify with one (jose).
import crypto from 'node:crypto';
import { promisify } from 'node:util';
import { GATEWAY_ASSERTION_TYPE, type GatewayAssertionClaims } from '../../contract/gateway-assertion.ts';
import type { AssertionKeys } from './keys.ts';

/** Makes the compact JWS of some claims (an injectable seam: tests count signatures). */
export type AssertionSigner = (claims: GatewayAssertionClaims) => Promise<string>;

const signOnThreadPool = promisify(crypto.sign);
const base64url = (text: string): string => Buffer.from(text).toString('base64url');

export function rs256Signer({ signer }: Pick<AssertionKeys, 'signer'>): AssertionSigner {
  // RFC 7518 §3.3: RSASSA-PKCS1-v1_5 with SHA-256, node:crypto's default padding for RSA keys.
  const header = base64url(JSON.stringify({ alg: 'RS256', typ: GATEWAY_ASSERTION_TYPE, kid: signer.kid }));
  return async (claims) => {
    const input = `${header}.${base64url(JSON.stringify(claims))}`;
    const signature = await signOnThreadPool('sha256', Buffer.from(input), signer.privateKey);
    return `${input}.${signature.toString('base64url')}`;
  };
}

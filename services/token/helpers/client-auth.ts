// OAuth client credentials (RFC 6749 §2.3) as presented: HTTP Basic or
// client_secret in the body, never both. Public clients identify themselves by
// client_id alone. Finding the client is auth/client-auth.ts's business.
import type { Context } from 'koa';
import { InvalidClient, InvalidRequest } from '../errors.ts';
import { clientAuthParams } from '../schemas/client-auth.ts';
import { parseParams } from '../schemas/parameters.ts';
import type { Params } from './params.ts';
import { safeEqual, sha256Hex } from './secrets.ts';

export interface PresentedCredentials {
  clientId: string;
  secret: string | undefined;
  viaBasic: boolean;
}

export function presentedCredentials(ctx: Context, params: Params): PresentedCredentials | undefined {
  const header = ctx.get('authorization');
  const { client_id: bodyId, client_secret: bodySecret } = parseParams(clientAuthParams, params);
  if (/^basic /i.test(header)) {
    if (bodySecret !== undefined) throw new InvalidRequest('use one client authentication method, not two');
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new InvalidClient('malformed Basic credentials', true);
    const clientId = decodeFormComponent(decoded.slice(0, colon));
    const secret = decodeFormComponent(decoded.slice(colon + 1));
    if (clientId === undefined || secret === undefined) throw new InvalidClient('malformed Basic credentials', true);
    if (bodyId !== undefined && bodyId !== clientId) throw new InvalidRequest('client_id does not match the Authorization header');
    return { clientId, secret, viaBasic: true };
  }
  if (bodyId === undefined) return undefined;
  return { clientId: bodyId, secret: bodySecret, viaBasic: false };
}

// RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64.
function decodeFormComponent(value: string): string | undefined {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/**
 * Checks a presented secret against the client's stored hash (null for a
 * public client, which must not send one). Returns whether the client proved a
 * secret. A bad secret gets the same answer as an unknown client.
 */
export function verifyPresentedSecret(presented: PresentedCredentials, expected: string | null): boolean {
  if (expected !== null) {
    if (presented.secret === undefined || !safeEqual(sha256Hex(presented.secret), expected)) {
      throw new InvalidClient('client authentication failed', presented.viaBasic);
    }
    return true;
  }
  if (presented.secret !== undefined) throw new InvalidClient('client authentication failed', presented.viaBasic);
  return false;
}

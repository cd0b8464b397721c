// OAuth client authentication (RFC 6749 §2.3): HTTP Basic or client_secret in
// the body, never both. Public clients identify themselves by client_id alone.
import type { Context } from 'koa';
import type { Knex } from 'knex';
import { InvalidClient, InvalidRequest } from '../errors.ts';
import { findClient, isConfidential, type ClientRow } from '../models/clients.ts';
import { clientAuthParams } from '../schemas/client-auth.ts';
import { parseParams } from '../schemas/parameters.ts';
import type { Params } from './params.ts';
import { safeEqual, sha256Hex } from './secrets.ts';

export interface AuthenticatedClient {
  client: ClientRow;
  /** True when the client proved a secret (a confidential client). */
  confidential: boolean;
}

interface PresentedCredentials {
  clientId: string;
  secret: string | undefined;
  viaBasic: boolean;
}

function presentedCredentials(ctx: Context, params: Params): PresentedCredentials | undefined {
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
 * Authenticates the calling client. A confidential client must prove its
 * secret; a public client must not send one. Unknown clients and bad secrets
 * get the same answer.
 */
export async function authenticateClient(ctx: Context, knex: Knex, params: Params): Promise<AuthenticatedClient> {
  const presented = presentedCredentials(ctx, params);
  if (!presented) throw new InvalidClient('client authentication is required (client_id, or HTTP Basic)');
  const client = await findClient(knex, presented.clientId);
  if (!client) throw new InvalidClient('client authentication failed', presented.viaBasic);
  if (isConfidential(client)) {
    const expected = client.secret_hash as string;
    if (presented.secret === undefined || !safeEqual(sha256Hex(presented.secret), expected)) {
      throw new InvalidClient('client authentication failed', presented.viaBasic);
    }
    return { client, confidential: true };
  }
  if (presented.secret !== undefined) throw new InvalidClient('client authentication failed', presented.viaBasic);
  return { client, confidential: false };
}

/** For endpoints only confidential clients may call (introspection, the revocation feed). */
export async function authenticateConfidentialClient(ctx: Context, knex: Knex, params: Params, requiredScope?: string): Promise<ClientRow> {
  const { client, confidential } = await authenticateClient(ctx, knex, params);
  if (!confidential) throw new InvalidClient('this endpoint requires a confidential client');
  if (requiredScope && !client.scopes.includes(requiredScope)) {
    throw new InvalidClient(`this client is not allowed ${requiredScope}`);
  }
  return client;
}

// OAuth client authentication (RFC 6749 §2.3): the presented credentials
// (helpers/client-auth.ts) checked against the client's row.
import type { Context } from 'koa';
import { InvalidClient } from '../errors.ts';
import { presentedCredentials, verifyPresentedSecret } from '../helpers/client-auth.ts';
import type { Params } from '../helpers/params.ts';
import type { ClientDirectory, ClientRow } from '../models/clients.ts';

export interface AuthenticatedClient {
  client: ClientRow;
  /** True when the client proved a secret (a confidential client). */
  confidential: boolean;
}

/**
 * Authenticates the calling client. A confidential client must prove its
 * secret, by its registered token_endpoint_auth_method; a public client must
 * not send one. Unknown clients and bad secrets get the same answer.
 */
export async function authenticateClient(ctx: Context, clients: ClientDirectory, params: Params): Promise<AuthenticatedClient> {
  const presented = presentedCredentials(ctx, params);
  if (!presented) throw new InvalidClient('client authentication is required (client_id, or HTTP Basic)');
  const client = await clients.find(presented.clientId);
  if (!client) throw new InvalidClient('client authentication failed', presented.viaBasic);
  const confidential = verifyPresentedSecret(presented, client.secret_hash);
  // A confidential client uses the method it registered, no other (RFC 7591 §2).
  const method = presented.viaBasic ? 'client_secret_basic' : 'client_secret_post';
  if (confidential && client.token_endpoint_auth_method !== method) {
    throw new InvalidClient(`this client authenticates with ${client.token_endpoint_auth_method}`, presented.viaBasic);
  }
  return { client, confidential };
}

/** For endpoints only confidential clients may call (introspection, the revocation feed). */
export async function authenticateConfidentialClient(
  ctx: Context,
  clients: ClientDirectory,
  params: Params,
  requiredScope?: string,
): Promise<ClientRow> {
  const { client, confidential } = await authenticateClient(ctx, clients, params);
  if (!confidential) throw new InvalidClient('this endpoint requires a confidential client');
  if (requiredScope && !client.scopes.includes(requiredScope)) {
    throw new InvalidClient(`this client is not allowed ${requiredScope}`);
  }
  return client;
}

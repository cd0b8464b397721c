// Start-up seeding: the public first-party client `web`, any clients listed in
// CLIENTS_FILE, and the gateway's confidential client (GATEWAY_CLIENT_SECRET; in
// local development, the gateway's own default secret, so that each piece runs alone).
import fs from 'node:fs';
import { z } from 'zod';
import type { Knex } from 'knex';
import type { Logger } from '../../common/logger.ts';
import { DEVELOPMENT_GATEWAY_CLIENT_SECRET, DEVELOPMENT_GATEWAY_PUBLIC_URL, isPlainHttpLoopback } from '../../common/development.ts';
import type { TokenServiceConfig } from './config.ts';
import { sha256Hex } from './helpers/secrets.ts';
import { FIRST_PARTY_CLIENT_ID, upsertClient, type ClientDefinition } from './models/clients.ts';
import { clientDefinition, consistentClientRegistration } from './schemas/client.ts';

const clientsFileSchema = z.array(consistentClientRegistration);

export function readClientsFile(path: string): ClientDefinition[] {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`CLIENTS_FILE ${path}: ${(error as Error).message}`, { cause: error });
  }
  const parsed = clientsFileSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `  - entry ${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`CLIENTS_FILE ${path} is invalid:\n${problems.join('\n')}`);
  }
  return parsed.data.map(clientDefinition);
}

export function firstPartyClient(config: TokenServiceConfig): ClientDefinition {
  return {
    client_id: FIRST_PARTY_CLIENT_ID,
    name: 'First-party web client',
    secret_hash: null,
    // The password grant is legacy (RFC 9700 §2.4): kept for this client's /auth/login API flow.
    grant_types: ['password', 'refresh_token'],
    first_party: true,
    scopes: config.WEB_CLIENT_SCOPES,
    // The issuer itself is the audience of the account endpoints (/auth/me, /auth/sessions).
    audiences: [config.ISSUER, ...config.WEB_CLIENT_AUDIENCES],
  };
}

type GatewayClientSettings = Pick<
  TokenServiceConfig,
  'ISSUER' | 'GATEWAY_CLIENT_ID' | 'GATEWAY_CLIENT_SECRET' | 'GATEWAY_PUBLIC_URL' | 'WEB_CLIENT_SCOPES' | 'WEB_CLIENT_AUDIENCES'
>;

/** The gateway's browser-facing URL: set, or the development gateway's when the issuer is a local-development one. */
export function gatewayPublicUrl(config: Pick<TokenServiceConfig, 'ISSUER' | 'GATEWAY_PUBLIC_URL'>): string | undefined {
  return config.GATEWAY_PUBLIC_URL ?? (isPlainHttpLoopback(config.ISSUER) ? DEVELOPMENT_GATEWAY_PUBLIC_URL : undefined);
}

/**
 * The gateway's confidential client, when GATEWAY_CLIENT_SECRET is set or the issuer is a local-development one;
 * `development` says the public development secret was used. It reads the revocation feed, and, with a public URL,
 * signs browsers in (authorization code) for cookie sessions: first-party, and its refresh tokens do not rotate, so
 * that several gateway instances may refresh one session at once (RFC 9700 §4.14.2: client authentication binds them).
 */
export function gatewayClient(config: GatewayClientSettings): { client: ClientDefinition; development: boolean } | undefined {
  const development = config.GATEWAY_CLIENT_SECRET === undefined && isPlainHttpLoopback(config.ISSUER);
  const secret = config.GATEWAY_CLIENT_SECRET ?? (development ? DEVELOPMENT_GATEWAY_CLIENT_SECRET : undefined);
  if (secret === undefined) return undefined;
  const publicUrl = gatewayPublicUrl(config);
  const feedOnly: ClientDefinition = {
    client_id: config.GATEWAY_CLIENT_ID,
    name: development ? 'Development gateway' : 'Gateway',
    secret_hash: sha256Hex(secret),
    grant_types: ['client_credentials'],
    scopes: ['revocations:read'],
    audiences: [],
    token_endpoint_auth_method: 'client_secret_basic',
  };
  const client: ClientDefinition =
    publicUrl === undefined
      ? feedOnly
      : {
          ...feedOnly,
          grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
          scopes: ['revocations:read', ...config.WEB_CLIENT_SCOPES.filter((scope) => scope !== 'revocations:read')],
          audiences: [config.ISSUER, ...config.WEB_CLIENT_AUDIENCES],
          redirect_uris: [`${publicUrl}/.auth/callback`],
          post_logout_redirect_uris: [`${publicUrl}/`],
          first_party: true,
          rotate_refresh_tokens: false,
        };
  return { client, development };
}

export async function seedClients(knex: Knex, config: TokenServiceConfig, logger?: Pick<Logger, 'info'>): Promise<void> {
  const fromFile = config.CLIENTS_FILE ? readClientsFile(config.CLIENTS_FILE) : [];
  let clients = [firstPartyClient(config), ...fromFile];
  const gateway = gatewayClient(config);
  // GATEWAY_CLIENT_SECRET, the one secret both sides read, wins over a CLIENTS_FILE entry of the same id;
  // the development secret does not.
  if (gateway && !(gateway.development && fromFile.some((c) => c.client_id === gateway.client.client_id))) {
    clients = [...clients.filter((c) => c.client_id !== gateway.client.client_id), gateway.client];
    if (gateway.development) {
      logger?.info(
        { client_id: gateway.client.client_id },
        'gateway client registered with the public development secret (GATEWAY_CLIENT_SECRET unset, plain-HTTP loopback ISSUER)',
      );
    }
  }
  for (const client of clients) await upsertClient(knex, client);
}

// Start-up seeding: the public first-party client `web`, any clients listed in
// CLIENTS_FILE, and the gateway's confidential client (GATEWAY_CLIENT_SECRET; in
// local development, the gateway's own default secret, so that each piece runs alone).
import fs from 'node:fs';
import { z } from 'zod';
import type { Knex } from 'knex';
import type { Logger } from '../../common/logger.ts';
import { DEVELOPMENT_GATEWAY_CLIENT_SECRET, isPlainHttpLoopback } from '../../common/development.ts';
import type { TokenServiceConfig } from './config.ts';
import { MIN_CLIENT_SECRET_LENGTH, sha256Hex } from './helpers/secrets.ts';
import { clientIdProblem, FIRST_PARTY_CLIENT_ID, GRANT_TYPES, upsertClient, type ClientDefinition } from './models/clients.ts';

const clientsFileSchema = z.array(
  z
    .object({
      client_id: z.string().superRefine((id, ctx) => {
        const problem = clientIdProblem(id);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
      name: z.string().max(200).optional(),
      client_secret: z.string().min(MIN_CLIENT_SECRET_LENGTH, `at least ${MIN_CLIENT_SECRET_LENGTH} characters`).optional(),
      grant_types: z.array(z.enum(GRANT_TYPES)).default([]),
      scopes: z.array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/)).default([]),
      audiences: z.array(z.string().min(1)).default([]),
    })
    .strict()
    .refine((c) => !c.grant_types.includes('client_credentials') || c.client_secret, {
      message: 'client_credentials needs a client_secret',
    }),
);

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
  return parsed.data.map(({ client_secret, ...client }) => ({
    ...client,
    secret_hash: client_secret ? sha256Hex(client_secret) : null,
  }));
}

export function firstPartyClient(config: TokenServiceConfig): ClientDefinition {
  return {
    client_id: FIRST_PARTY_CLIENT_ID,
    name: 'First-party web client',
    secret_hash: null,
    grant_types: ['password', 'refresh_token'],
    scopes: config.WEB_CLIENT_SCOPES,
    // The issuer itself is the audience of the account endpoints (/auth/me, /auth/sessions).
    audiences: [config.ISSUER, ...config.WEB_CLIENT_AUDIENCES],
  };
}

type GatewayClientSettings = Pick<TokenServiceConfig, 'ISSUER' | 'GATEWAY_CLIENT_ID' | 'GATEWAY_CLIENT_SECRET'>;

/**
 * The gateway's confidential client (it reads the revocation feed), when GATEWAY_CLIENT_SECRET is set or the
 * issuer is a local-development one; `development` says the public development secret was used.
 */
export function gatewayClient(config: GatewayClientSettings): { client: ClientDefinition; development: boolean } | undefined {
  const development = config.GATEWAY_CLIENT_SECRET === undefined && isPlainHttpLoopback(config.ISSUER);
  const secret = config.GATEWAY_CLIENT_SECRET ?? (development ? DEVELOPMENT_GATEWAY_CLIENT_SECRET : undefined);
  if (secret === undefined) return undefined;
  const client: ClientDefinition = {
    client_id: config.GATEWAY_CLIENT_ID,
    name: development ? 'Development gateway (revocation feed)' : 'Gateway (revocation feed)',
    secret_hash: sha256Hex(secret),
    grant_types: ['client_credentials'],
    scopes: ['revocations:read'],
    audiences: [],
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

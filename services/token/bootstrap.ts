// First-start seeding: the public first-party client `web`, the gateway's
// confidential client in development, and any clients listed in CLIENTS_FILE.
import fs from 'node:fs';
import { z } from 'zod';
import type { Knex } from 'knex';
import type { TokenServiceConfig } from './config.ts';
import { sha256Hex } from './helpers/secrets.ts';
import { clientIdProblem, FIRST_PARTY_CLIENT_ID, upsertClient, type ClientDefinition } from './models/clients.ts';

export const MIN_CLIENT_SECRET_LENGTH = 32;

const clientsFileSchema = z.array(
  z
    .object({
      client_id: z.string().superRefine((id, ctx) => {
        const problem = clientIdProblem(id);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
      name: z.string().max(200).optional(),
      // Secrets are high-entropy by rule, which is what lets us store a plain SHA-256 of them.
      client_secret: z.string().min(MIN_CLIENT_SECRET_LENGTH, `at least ${MIN_CLIENT_SECRET_LENGTH} characters`).optional(),
      grant_types: z.array(z.enum(['password', 'refresh_token', 'client_credentials'])).default([]),
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

export async function seedClients(knex: Knex, config: TokenServiceConfig): Promise<void> {
  const clients = [firstPartyClient(config), ...(config.CLIENTS_FILE ? readClientsFile(config.CLIENTS_FILE) : [])];
  for (const client of clients) await upsertClient(knex, client);
}

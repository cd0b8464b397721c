// A client's registration as an operator writes it: in CLIENTS_FILE and through
// `authctl client create/update`. One schema for both; models/clients.ts
// clientDefaults fills in what is left out, clientDefinitionProblem checks that
// the fields agree with each other.
import { z } from 'zod';
import { redirectUriProblem } from '../helpers/redirect-uris.ts';
import { MIN_CLIENT_SECRET_LENGTH, sha256Hex } from '../helpers/secrets.ts';
import {
  clientDefinitionProblem,
  clientIdProblem,
  GRANT_TYPES,
  TOKEN_ENDPOINT_AUTH_METHODS,
  type ClientDefinition,
} from '../models/clients.ts';

const redirectUri = z.string().superRefine((uri, ctx) => {
  const problem = redirectUriProblem(uri);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const scopeToken = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'a scope token: printable ASCII without spaces, quotes or backslashes');

export const clientRegistration = z
  .object({
    client_id: z.string().superRefine((id, ctx) => {
      const problem = clientIdProblem(id);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
    name: z.string().max(200).optional().describe('shown on the login and consent pages; the client id when left out'),
    client_secret: z
      .string()
      .min(MIN_CLIENT_SECRET_LENGTH, `at least ${MIN_CLIENT_SECRET_LENGTH} characters`)
      .optional()
      .describe('makes the client confidential; stored as SHA-256 only'),
    grant_types: z
      .array(z.enum(GRANT_TYPES))
      .default([])
      .describe('`password` is legacy: give it only to first-party clients that need it'),
    scopes: z.array(scopeToken).default([]),
    audiences: z.array(z.string().min(1)).default([]).describe('the `aud` of its access tokens; `resource` (RFC 8707) picks among them'),
    redirect_uris: z.array(redirectUri).max(20).optional().describe('exact match; loopback URIs (http://127.0.0.1/…) match any port'),
    post_logout_redirect_uris: z.array(redirectUri).max(20).optional(),
    backchannel_logout_uri: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe('OIDC Back-Channel Logout: receives a logout token whenever a family of this client is revoked'),
    first_party: z.boolean().optional().describe('skips the consent page'),
    token_endpoint_auth_method: z
      .enum(TOKEN_ENDPOINT_AUTH_METHODS)
      .optional()
      .describe('`client_secret_basic` for confidential clients unless set'),
    rotate_refresh_tokens: z.boolean().optional().describe('confidential clients may turn rotation off; public clients always rotate'),
  })
  .strict();

export type ClientRegistration = z.output<typeof clientRegistration>;

/** A registration as the models keep it: the secret hashed, never kept. */
export function clientDefinition({ client_secret, ...client }: ClientRegistration): ClientDefinition {
  return { ...client, secret_hash: client_secret ? sha256Hex(client_secret) : null };
}

/** clientRegistration whose fields also agree with each other; an issue names the field to change. */
export const consistentClientRegistration = clientRegistration.superRefine((client, ctx) => {
  const problem = clientDefinitionProblem(clientDefinition(client));
  if (problem) ctx.addIssue({ code: 'custom', path: [problem.field], message: problem.message });
});

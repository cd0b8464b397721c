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

// Each field's .describe() is its documentation: `npm run docs` writes the README's table of client fields from them.
export const clientRegistration = z
  .object({
    client_id: z
      .string()
      .superRefine((id, ctx) => {
        const problem = clientIdProblem(id);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .describe('letters, digits, `.`, `_`, `:` or `-` (1–128), never of the form of a user id (a UUID)'),
    name: z.string().max(200).optional().describe('shown on the login and consent pages; the client id when left out'),
    client_secret: z
      .string()
      .min(MIN_CLIENT_SECRET_LENGTH, `at least ${MIN_CLIENT_SECRET_LENGTH} characters`)
      .optional()
      .describe(
        `makes the client confidential (at least ${MIN_CLIENT_SECRET_LENGTH} characters); stored as SHA-256 only. Left out: a public client (a single-page or native app)`,
      ),
    grant_types: z
      .array(z.enum(GRANT_TYPES))
      .default([])
      .describe(
        '`authorization_code` (needs `redirect_uris`), `refresh_token`, `client_credentials` (confidential clients only), `password` (legacy, RFC 9700 §2.4: give it only to first-party clients that need it)',
      ),
    scopes: z.array(scopeToken).default([]).describe('the scopes it may be granted'),
    audiences: z.array(z.string().min(1)).default([]).describe('the `aud` of its access tokens; `resource` (RFC 8707) picks among them'),
    redirect_uris: z
      .array(redirectUri)
      .max(20)
      .optional()
      .describe(
        'where the authorization code flow may return, matched exactly (loopback URIs such as `http://127.0.0.1/cb` match any port): `https`, `http` only on a loopback host, or a native app’s private-use scheme (`com.example.app:/cb`); never a `#fragment`',
      ),
    post_logout_redirect_uris: z
      .array(redirectUri)
      .max(20)
      .optional()
      .describe('where sign-out may send the browser back to, matched exactly; the same rules as `redirect_uris`'),
    backchannel_logout_uri: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe('OIDC Back-Channel Logout: receives a logout token whenever a family of this client is revoked'),
    first_party: z.boolean().optional().describe('skips the consent page; `false` unless set'),
    token_endpoint_auth_method: z
      .enum(TOKEN_ENDPOINT_AUTH_METHODS)
      .optional()
      .describe(
        '`client_secret_basic` (a confidential client’s default) or `client_secret_post`; `none` for a public client, and only for one',
      ),
    rotate_refresh_tokens: z
      .boolean()
      .optional()
      .describe('`true` unless set: a confidential client may turn rotation off (RFC 9700 §4.14.2); a public client always rotates'),
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

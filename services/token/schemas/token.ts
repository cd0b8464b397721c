// POST /oauth/token (RFC 6749). Read in two steps, so that a request fails on
// its client before it fails on its grant: first what every grant sends, then,
// once the client is authenticated and the grant type known, the parameters of
// that grant.
import { z } from 'zod';
import { parameter } from './parameters.ts';

const ONE_OF_THE_TWO = { description: 'username or email: one is required (username when both are sent)' };

/** What the password grant reads, also through POST /auth/login (schemas/login.ts). */
export const passwordCredentials = {
  username: parameter(254).optional().meta(ONE_OF_THE_TWO),
  email: parameter(254).optional().meta(ONE_OF_THE_TWO),
  password: parameter(1024),
};

export const tokenParams = z.object({
  grant_type: parameter(64),
  scope: parameter(1024).optional(),
});

/**
 * The grant types this endpoint serves, each with its own parameters (as
 * node-oidc-provider registers a grant type with its parameters).
 */
export const grantParams = {
  // RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5) and resource indicators (RFC 8707 §2.2).
  authorization_code: z.object({
    code: parameter(512),
    redirect_uri: parameter(2000).describe('exactly the redirect_uri of the authorization request'),
    code_verifier: parameter(128),
    resource: parameter(2000).optional().describe('narrows the access token to one of the authorized audiences'),
  }),
  // RFC 6749 §4.3; the account is named by username or e-mail address.
  password: z
    .object(passwordCredentials)
    .refine((params) => params.username !== undefined || params.email !== undefined, {
      path: ['email'],
      // Also when other parameters are wrong: this one is named first.
      when: ({ value }) => typeof value === 'object' && value !== null,
      message: 'email is required',
    })
    // The refinement guarantees one of the two.
    .transform(({ username, email, password }) => ({ login: (username ?? email) as string, password })),
  // RFC 6749 §6.
  refresh_token: z.object({ refresh_token: parameter(512) }),
  // RFC 6749 §4.4: the client's credentials are all it takes.
  client_credentials: z.object({}),
};

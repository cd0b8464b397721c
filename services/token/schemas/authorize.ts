// GET/POST /oauth/authorize (RFC 6749 §4.1.1, RFC 7636, OIDC Core §3.1.2.1,
// RFC 8707). Read in two steps: first the client and where to send it back
// (a problem there is shown as a page, never redirected: RFC 6749 §4.1.2.1),
// then the rest (a problem there is redirected back to the client).
import { z } from 'zod';
import { PKCE_VALUE } from '../helpers/pkce.ts';
import { decimal, parameter } from './parameters.ts';

export const authorizationTarget = z.object({
  client_id: parameter(128),
  redirect_uri: parameter(2000),
});

export const PROMPTS = ['none', 'login', 'consent'] as const;

export const authorizationParams = z.object({
  response_type: parameter(64),
  scope: parameter(1024).optional(),
  state: parameter(1024).optional().describe('returned unchanged with the code or the error'),
  nonce: parameter(512).optional().describe('copied into the ID token'),
  code_challenge: z.string().regex(PKCE_VALUE, 'code_challenge must be 43-128 characters of A-Z a-z 0-9 - . _ ~'),
  code_challenge_method: z.literal('S256', 'code_challenge_method must be S256'),
  prompt: parameter(64)
    .optional()
    .describe('none: answer at once (login_required, consent_required); login: ask for the password again; consent: ask again'),
  max_age: decimal(9, z.number().int().min(0)).optional().describe('seconds: an older sign-in asks for the password again'),
  login_hint: parameter(254).optional().describe('prefills the login form'),
  resource: parameter(2000).optional().describe('RFC 8707: one of the client’s audiences, the access token’s only audience'),
  response_mode: z.literal('query', 'response_mode must be query').optional(),
});

/** Parameters of features we do not offer, refused rather than ignored (OIDC Core §6). */
export const UNSUPPORTED_AUTHORIZATION_PARAMS = {
  request: 'request_not_supported',
  request_uri: 'request_uri_not_supported',
  registration: 'registration_not_supported',
} as const;

export type AuthorizationParams = z.output<typeof authorizationParams>;

/** The login and consent forms' own fields (the authorization request stays in the form's query). */
export const interactionForm = z.discriminatedUnion('action', [
  z.object({
    action: z.literal('login'),
    csrf: parameter(64),
    username: parameter(254),
    password: parameter(1024),
  }),
  z.object({
    action: z.literal('consent'),
    csrf: parameter(64),
    decision: z.enum(['allow', 'deny']),
  }),
]);

/** GET/POST /oauth/end-session (OIDC RP-Initiated Logout 1.0 §2). */
export const endSessionParams = z.object({
  id_token_hint: parameter(4096).optional(),
  client_id: parameter(128).optional(),
  post_logout_redirect_uri: parameter(2000).optional(),
  state: parameter(1024).optional(),
  logout_hint: parameter(254).optional(),
  ui_locales: parameter(64).optional(),
});

export type EndSessionParams = z.output<typeof endSessionParams>;

export const endSessionConfirmation = z.object({ csrf: parameter(64), confirm: z.literal('yes') });

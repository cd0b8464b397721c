// The OpenAPI 3.1 description of the token service. Served at /openapi.json
// and written to docs/openapi.json (npm run openapi); a test checks that it
// lists exactly the routes the router serves. What each endpoint accepts is
// generated from its parameter schema (schemas/); the responses are described
// here, since nothing parses them.
import { z } from 'zod';
import { catchUpPageSchema, revocationEntrySchema } from '../../contract/revocations.ts';
import type { TokenServiceConfig } from './config.ts';
import { authorizationParams, authorizationTarget, endSessionParams } from './schemas/authorize.ts';
import { clientAuthParams } from './schemas/client-auth.ts';
import { introspectParams } from './schemas/introspect.ts';
import { loginParams } from './schemas/login.ts';
import { logoutParams } from './schemas/logout.ts';
import { fieldsOf } from './schemas/parameters.ts';
import { registerParams } from './schemas/register.ts';
import { revocationPageQuery, revocationStreamParams } from './schemas/revocations.ts';
import { revokeParams } from './schemas/revoke.ts';
import { listSessionsQuery } from './schemas/sessions.ts';
import { grantParams, tokenParams } from './schemas/token.ts';

type JsonSchema = Record<string, unknown>;

/** A parameter schema in JSON Schema 2020-12, the dialect of OpenAPI 3.1: what a client sends (zod's input side). */
function jsonSchema(schema: z.ZodType): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input' });
  return rest;
}

/** Each field of `schema` as an OpenAPI parameter `in` the query or a header. */
function parametersOf(schema: z.ZodObject, where: 'query' | 'header'): JsonSchema[] {
  const { properties = {}, required = [] } = jsonSchema(schema) as { properties?: Record<string, JsonSchema>; required?: string[] };
  return Object.entries(properties).map(([name, { description, ...fieldSchema }]) => ({
    name,
    in: where,
    ...(required.includes(name) ? { required: true } : {}),
    ...(description === undefined ? {} : { description }),
    schema: fieldSchema,
  }));
}

/** POST /oauth/token's body: one shape per grant type, each with the client's credentials. */
const tokenRequest = z.discriminatedUnion(
  'grant_type',
  Object.entries(grantParams).map(([grantType, params]) =>
    z.object({ ...tokenParams.shape, grant_type: z.literal(grantType), ...clientAuthParams.shape, ...fieldsOf(params) }),
  ) as unknown as [z.ZodObject, ...z.ZodObject[]],
);
const withClientAuth = (schema: z.ZodObject) => z.object({ ...schema.shape, ...clientAuthParams.shape });

const json = (schema: object) => ({ 'application/json': { schema } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const oauthError = (description: string) => ({ description, content: json(ref('OAuthError')) });
const apiError = (description: string) => ({ description, content: json(ref('ApiError')) });
const formOrJson = (schema: object, required = true) => ({
  required,
  content: { 'application/x-www-form-urlencoded': { schema }, 'application/json': { schema } },
});
const commonErrors = {
  '413': apiError('Body larger than 32 KB'),
  '415': apiError('Unsupported media type'),
};
const bearer = [{ bearerAuth: [] }];
const deviceCookie = {
  name: '__Host-device',
  in: 'cookie',
  required: false,
  description:
    'The device cookie of an earlier login (named "device" when the issuer is a plain-HTTP loopback URL): lets the owner past an account lock',
  schema: { type: 'string' },
};
const setDeviceCookie = {
  description: 'The device cookie: HttpOnly; SameSite=Lax; Path=/; Secure (except for a plain-HTTP loopback issuer)',
  schema: { type: 'string' },
};
const clientAuth = [{ clientBasic: [] }, { clientSecretPost: [] }, { publicClient: [] }];

const htmlPage = (description: string) => ({ description, content: { 'text/html': { schema: { type: 'string' } } } });
const redirect = (description: string) => ({ description, headers: { Location: { schema: { type: 'string' } } } });

/** The authorization request: in the query (GET, and our own forms' POST), or a form body (a client's POST). */
function authorizeOperation(method: 'get' | 'post'): Record<string, unknown> {
  const request = z.object({ ...authorizationTarget.shape, ...authorizationParams.shape });
  return {
    summary:
      method === 'get'
        ? 'Authorization endpoint (RFC 6749 §4.1, PKCE S256 required, OpenID Connect): shows the login or consent page, or redirects back with a code'
        : 'The authorization request as a form (OIDC Core §3.1.2.1), or the login/consent form posted back (`action`, `csrf` in the body, the request in the query)',
    tags: ['browser'],
    ...(method === 'get'
      ? { parameters: parametersOf(request, 'query') }
      : { requestBody: { content: { 'application/x-www-form-urlencoded': { schema: jsonSchema(request) } } } }),
    responses: {
      '200': htmlPage('The login page or the consent page (no-store, CSP frame-ancestors none, Referrer-Policy no-referrer)'),
      '303': redirect(
        'Back to redirect_uri with code, state and iss; or with error, error_description, state and iss (RFC 6749 §4.1.2.1, RFC 9207)',
      ),
      '400': htmlPage('Unknown client_id or unregistered redirect_uri: an error page, never a redirect'),
      '403': htmlPage('The form’s CSRF token does not match its cookie: a fresh form'),
      '429': htmlPage('Sign-in attempts throttled (Retry-After)'),
    },
  };
}

const userinfoOperation = {
  summary: 'OpenID Connect UserInfo: sub, and the profile and email claims the scopes allow',
  tags: ['browser'],
  security: bearer,
  responses: {
    '200': {
      description: 'Claims (no-store)',
      content: json({
        type: 'object',
        required: ['sub'],
        properties: {
          sub: { type: 'string' },
          name: { type: 'string' },
          preferred_username: { type: 'string' },
          email: { type: 'string' },
          email_verified: { type: 'boolean' },
        },
      }),
    },
    '401': oauthError('invalid_token'),
    '403': oauthError('insufficient_scope: the token lacks openid'),
  },
};

function endSessionOperation(method: 'get' | 'post'): Record<string, unknown> {
  return {
    summary:
      'RP-initiated logout (OIDC): ends the sign-in session and revokes every family issued through it; without a valid id_token_hint the user confirms first',
    tags: ['browser'],
    ...(method === 'get'
      ? { parameters: parametersOf(endSessionParams, 'query') }
      : { requestBody: { content: { 'application/x-www-form-urlencoded': { schema: jsonSchema(endSessionParams) } } } }),
    responses: {
      '200': htmlPage('The confirmation page, or the signed-out page'),
      '303': redirect('To post_logout_redirect_uri (registered exactly), with state'),
      '400': htmlPage('A bad id_token_hint, client_id or post_logout_redirect_uri'),
    },
  };
}

export function openApiDocument(config: Pick<TokenServiceConfig, 'ISSUER'>): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Token service',
      version: '0.1.0',
      description:
        'Issues RS256 access tokens (RFC 9068) and rotating refresh tokens; revokes sessions (refresh-token families) and publishes the revocation log that gateways follow (docs/WIRE-CONTRACT.md).',
    },
    servers: [{ url: config.ISSUER }],
    paths: {
      '/.well-known/oauth-authorization-server': {
        get: {
          summary: 'RFC 8414 authorization server metadata',
          tags: ['discovery'],
          responses: { '200': { description: 'Metadata', content: json(ref('Metadata')) } },
        },
      },
      '/.well-known/openid-configuration': {
        get: {
          summary: 'The same metadata under the OpenID name',
          tags: ['discovery'],
          responses: { '200': { description: 'Metadata', content: json(ref('Metadata')) } },
        },
      },
      '/.well-known/jwks.json': {
        get: {
          summary: 'Public signing keys (RS256), cacheable',
          tags: ['discovery'],
          responses: { '200': { description: 'JWK Set', content: json(ref('Jwks')) } },
        },
      },
      '/openapi.json': {
        get: { summary: 'This document', tags: ['discovery'], responses: { '200': { description: 'OpenAPI 3.1 document' } } },
      },
      '/oauth/authorize': {
        get: authorizeOperation('get'),
        post: authorizeOperation('post'),
      },
      '/oauth/token': {
        post: {
          summary: 'Token endpoint (RFC 6749): authorization_code (PKCE), refresh_token, client_credentials, and the legacy password grant',
          tags: ['oauth'],
          security: clientAuth,
          requestBody: formOrJson(ref('TokenRequest')),
          parameters: [deviceCookie],
          responses: {
            '200': {
              description:
                'Token pair (Cache-Control: no-store), with an ID token for an authorization code with scope openid; a client that does not rotate gets no new refresh token; the password grant sets or renews the device cookie',
              headers: { 'Set-Cookie': setDeviceCookie },
              content: json(ref('TokenResponse')),
            },
            '400': oauthError(
              'invalid_request, invalid_grant, unauthorized_client, unsupported_grant_type, invalid_scope or invalid_target',
            ),
            '401': oauthError('invalid_client'),
            '429': oauthError(
              'too_many_requests: failed logins throttled, or too many password checks in progress from this address (Retry-After)',
            ),
            '503': oauthError('temporarily_unavailable: too many password checks in progress (Retry-After)'),
            ...commonErrors,
          },
        },
      },
      '/oauth/userinfo': {
        get: userinfoOperation,
        post: userinfoOperation,
      },
      '/oauth/end-session': {
        get: endSessionOperation('get'),
        post: endSessionOperation('post'),
      },
      '/oauth/revoke': {
        post: {
          summary: 'Token revocation (RFC 7009): a refresh token revokes its family, an access token its jti',
          tags: ['oauth'],
          security: clientAuth,
          requestBody: formOrJson(jsonSchema(withClientAuth(revokeParams))),
          responses: {
            '200': { description: 'Revoked, or the token was unknown' },
            '400': oauthError("invalid_request (e.g. another client's token)"),
            '401': oauthError('invalid_client'),
            ...commonErrors,
          },
        },
      },
      '/oauth/introspect': {
        post: {
          summary: 'Token introspection (RFC 7662), confidential clients only',
          tags: ['oauth'],
          security: [{ clientBasic: [] }, { clientSecretPost: [] }],
          requestBody: formOrJson(jsonSchema(withClientAuth(introspectParams))),
          responses: {
            '200': { description: 'active true with claims, or {"active": false}', content: json(ref('Introspection')) },
            '401': oauthError('invalid_client'),
            ...commonErrors,
          },
        },
      },
      '/auth/register': {
        post: {
          summary: 'Create a user',
          tags: ['account'],
          requestBody: formOrJson(jsonSchema(registerParams)),
          responses: {
            '201': { description: 'The user', content: json(ref('User')) },
            '400': apiError('A field is missing or invalid (the message names it)'),
            '409': apiError('"username or email is already registered": one message for either'),
            '429': apiError('Too many registrations that created nothing, or password checks in progress, from this address (Retry-After)'),
            '503': apiError('Too many password checks in progress (Retry-After)'),
            ...commonErrors,
          },
        },
      },
      '/auth/login': {
        post: {
          summary: 'First-party login: a token pair for the public client "web"',
          tags: ['account'],
          requestBody: formOrJson(jsonSchema(loginParams)),
          parameters: [deviceCookie],
          responses: {
            '200': {
              description: 'Token pair; sets or renews the device cookie',
              headers: { 'Set-Cookie': setDeviceCookie },
              content: json(ref('TokenResponse')),
            },
            '400': apiError('invalid_grant (the same for unknown users and wrong passwords)'),
            '429': apiError(
              'Throttled: the account is locked, this address is past its free failures, or it has too many password checks in progress (Retry-After)',
            ),
            '503': apiError('Too many password checks in progress (Retry-After)'),
            ...commonErrors,
          },
        },
      },
      '/auth/logout': {
        post: {
          summary: 'Revoke this session, every session of the user, or all others',
          tags: ['account'],
          security: bearer,
          requestBody: formOrJson(jsonSchema(logoutParams), false),
          responses: {
            '204': { description: 'Revoked (durably) or already revoked' },
            '400': apiError('Unknown scope'),
            '401': apiError('invalid_token'),
            ...commonErrors,
          },
        },
      },
      '/auth/me': {
        get: {
          summary: 'The caller and its session',
          tags: ['account'],
          security: bearer,
          responses: { '200': { description: 'User and session', content: json(ref('Me')) }, '401': apiError('invalid_token') },
        },
      },
      '/auth/sessions': {
        get: {
          summary: "The caller's live sessions, newest first, a page at a time",
          tags: ['account'],
          security: bearer,
          parameters: parametersOf(listSessionsQuery, 'query'),
          responses: {
            '200': {
              description: 'Sessions',
              content: json({
                type: 'object',
                required: ['sessions', 'next_cursor'],
                properties: {
                  sessions: { type: 'array', items: ref('Session') },
                  next_cursor: { type: ['string', 'null'], description: 'null on the last page' },
                },
              }),
            },
            '400': apiError('Bad limit or cursor (the message names it)'),
            '401': apiError('invalid_token'),
          },
        },
      },
      '/auth/sessions/{id}': {
        delete: {
          summary: "Revoke one of the caller's sessions",
          tags: ['account'],
          security: bearer,
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
          responses: {
            '204': { description: 'Revoked' },
            '401': apiError('invalid_token'),
            '404': apiError('No such session of the caller'),
          },
        },
      },
      '/auth/signin-sessions': {
        get: {
          summary: "The caller's live sign-in sessions (single sign-on) with the apps signed in through each",
          tags: ['account'],
          security: bearer,
          responses: {
            '200': {
              description: 'Sign-in sessions, newest first (at most 100)',
              content: json({
                type: 'object',
                required: ['signin_sessions'],
                properties: { signin_sessions: { type: 'array', items: ref('SigninSession') } },
              }),
            },
            '401': apiError('invalid_token'),
          },
        },
      },
      '/auth/signin-sessions/{id}': {
        delete: {
          summary: 'End one of the caller’s sign-in sessions, revoking every app’s tokens issued through it',
          tags: ['account'],
          security: bearer,
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
          responses: {
            '204': { description: 'Ended (durably)' },
            '401': apiError('invalid_token'),
            '404': apiError('No such sign-in session of the caller'),
          },
        },
      },
      '/auth/consents': {
        get: {
          summary: 'What the caller allowed third-party apps',
          tags: ['account'],
          security: bearer,
          responses: {
            '200': {
              description: 'Consents',
              content: json({ type: 'object', required: ['consents'], properties: { consents: { type: 'array', items: ref('Consent') } } }),
            },
            '401': apiError('invalid_token'),
          },
        },
      },
      '/auth/consents/{client_id}': {
        delete: {
          summary: 'Withdraw a consent: the app’s tokens of the caller are revoked',
          tags: ['account'],
          security: bearer,
          parameters: [{ name: 'client_id', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            '204': { description: 'Withdrawn (durably)' },
            '401': apiError('invalid_token'),
            '404': apiError('No consent for this client'),
          },
        },
      },
      '/revocations': {
        get: {
          summary: 'Revocation log catch-up for gateways (docs/WIRE-CONTRACT.md)',
          tags: ['gateways'],
          security: [{ clientBasic: [] }],
          parameters: parametersOf(revocationPageQuery, 'query'),
          responses: {
            '200': { description: 'Entries after the cursor', content: json(ref('RevocationPage')) },
            '400': oauthError('Bad cursor'),
            '401': oauthError('invalid_client (needs scope revocations:read)'),
          },
        },
      },
      '/revocations/stream': {
        get: {
          summary: 'Live revocation stream (Server-Sent Events; Last-Event-ID replays)',
          tags: ['gateways'],
          security: [{ clientBasic: [] }],
          parameters: [
            ...parametersOf(revocationStreamParams, 'header'),
            // The same cursor, for clients that cannot set the header.
            ...parametersOf(revocationStreamParams, 'query').map((parameter) => ({ ...parameter, name: 'after' })),
          ],
          responses: {
            '200': {
              description: 'text/event-stream of `revocation` events, then `ready`',
              content: { 'text/event-stream': { schema: { type: 'string' } } },
            },
            '401': oauthError('invalid_client'),
          },
        },
      },
      '/admin/commands/{name}': {
        post: {
          summary: 'Admin operations for authctl while this process holds the embedded database',
          tags: ['operations'],
          security: [{ adminBearer: [] }],
          parameters: [
            {
              name: 'name',
              in: 'path',
              required: true,
              schema: {
                type: 'string',
                enum: [
                  'user.create',
                  'user.list',
                  'user.disable',
                  'user.enable',
                  'client.create',
                  'client.update',
                  'client.list',
                  'client.delete',
                  'keys.rotate',
                  'keys.list',
                  'sessions.list',
                  'revoke.user',
                  'revoke.session',
                  'purge',
                  'audit.list',
                ],
              },
            },
          ],
          requestBody: { content: json({ type: 'object' }) },
          responses: {
            '200': { description: '{"result": …}' },
            '401': apiError('Admin credential required'),
            '404': apiError('Not enabled (PostgreSQL mode) or unknown command'),
          },
        },
      },
      '/metrics': {
        get: {
          summary: 'Prometheus metrics (Bearer METRICS_TOKEN when set)',
          tags: ['operations'],
          responses: {
            '200': { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } },
            '401': apiError('METRICS_TOKEN required'),
          },
        },
      },
      '/healthz': { get: { summary: 'The process is up', tags: ['operations'], responses: { '200': { description: 'ok' } } } },
      '/readyz': {
        get: {
          summary: 'The database answers',
          tags: ['operations'],
          responses: { '200': { description: 'ready' }, '503': { description: 'Database unreachable (Retry-After)' } },
        },
      },
    },
    components: {
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT (RFC 9068)' },
        clientBasic: { type: 'http', scheme: 'basic', description: 'client_id:client_secret, form-urlencoded (RFC 6749 §2.3.1)' },
        clientSecretPost: {
          type: 'apiKey',
          in: 'query',
          name: 'client_secret',
          description: 'client_id and client_secret in the request body',
        },
        publicClient: { type: 'apiKey', in: 'query', name: 'client_id', description: 'Public clients send client_id in the body' },
        adminBearer: { type: 'http', scheme: 'bearer', description: 'The credential in DATA_DIR/admin.json' },
      },
      schemas: {
        OAuthError: {
          type: 'object',
          required: ['error', 'error_description'],
          properties: { error: { type: 'string' }, error_description: { type: 'string' } },
        },
        ApiError: {
          type: 'object',
          required: ['error', 'message'],
          properties: { error: { type: 'string' }, message: { type: 'string' } },
        },
        TokenRequest: jsonSchema(tokenRequest),
        TokenResponse: {
          type: 'object',
          required: ['access_token', 'token_type', 'expires_in', 'scope'],
          properties: {
            access_token: { type: 'string' },
            token_type: { const: 'Bearer' },
            expires_in: { type: 'integer' },
            refresh_token: { type: 'string' },
            scope: { type: 'string' },
            id_token: { type: 'string', description: 'OpenID Connect ID token (authorization code with scope openid)' },
          },
        },
        Introspection: {
          type: 'object',
          required: ['active'],
          properties: {
            active: { type: 'boolean' },
            token_type: { type: 'string' },
            sub: { type: 'string' },
            client_id: { type: 'string' },
            scope: { type: 'string' },
            exp: { type: 'integer' },
            iat: { type: 'integer' },
            sid: { type: 'string' },
            username: { type: 'string' },
          },
        },
        User: {
          type: 'object',
          properties: {
            id: { type: 'string', format: 'uuid' },
            username: { type: 'string' },
            email: { type: 'string' },
            created_at: { type: 'string', format: 'date-time' },
          },
        },
        Me: {
          allOf: [
            ref('User'),
            { type: 'object', properties: { session_id: { type: 'string' }, client_id: { type: 'string' }, scope: { type: 'string' } } },
          ],
        },
        SigninSession: {
          type: 'object',
          properties: {
            id: { type: 'string', format: 'uuid', description: 'the `sid` of ID tokens and logout tokens' },
            signed_in_at: { type: 'string', format: 'date-time' },
            expires_at: { type: 'string', format: 'date-time' },
            user_agent: { type: ['string', 'null'] },
            ip: { type: ['string', 'null'] },
            apps: { type: 'array', items: { type: 'string' }, description: 'client ids with live tokens from this sign-in' },
            current: { type: 'boolean' },
          },
        },
        Consent: {
          type: 'object',
          properties: {
            client_id: { type: 'string' },
            scopes: { type: 'array', items: { type: 'string' } },
            granted_at: { type: 'string', format: 'date-time' },
          },
        },
        Session: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            client_id: { type: 'string' },
            signin_session_id: { type: ['string', 'null'], description: 'the sign-in session it came through, if any' },
            created_at: { type: 'string' },
            last_used_at: { type: 'string' },
            expires_at: { type: 'string' },
            user_agent: { type: ['string', 'null'] },
            ip: { type: ['string', 'null'] },
            current: { type: 'boolean' },
          },
        },
        // The wire contract's own schemas (contract/revocations.ts), so the document cannot drift from what gateways parse.
        RevocationEntry: jsonSchema(revocationEntrySchema),
        RevocationPage: jsonSchema(catchUpPageSchema),
        Metadata: {
          type: 'object',
          required: ['issuer', 'jwks_uri', 'token_endpoint', 'authorization_endpoint'],
          properties: {
            issuer: { type: 'string' },
            authorization_endpoint: { type: 'string' },
            userinfo_endpoint: { type: 'string' },
            end_session_endpoint: { type: 'string' },
            jwks_uri: { type: 'string' },
            token_endpoint: { type: 'string' },
            revocation_endpoint: { type: 'string' },
            introspection_endpoint: { type: 'string' },
            revocation_feed_endpoint: { type: 'string' },
            revocation_stream_endpoint: { type: 'string' },
          },
        },
        Jwks: {
          type: 'object',
          properties: {
            keys: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  kty: { const: 'RSA' },
                  kid: { type: 'string' },
                  alg: { const: 'RS256' },
                  use: { const: 'sig' },
                  n: { type: 'string' },
                  e: { type: 'string' },
                },
              },
            },
          },
        },
      },
    },
  };
}

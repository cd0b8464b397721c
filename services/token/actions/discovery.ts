// RFC 8414 and OpenID Connect Discovery 1.0 metadata, and the JWKS. Each
// entry advertises what works, no more: a test drives every one of them.
import type { Middleware } from 'koa';
import type { TokenService } from '../context.ts';
import { PROMPTS } from '../schemas/authorize.ts';
import { grantParams } from '../schemas/token.ts';

export function metadataEndpoint(service: TokenService): Middleware {
  return (ctx) => {
    const issuer = service.config.ISSUER;
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = {
      issuer,
      authorization_endpoint: `${issuer}/oauth/authorize`,
      token_endpoint: `${issuer}/oauth/token`,
      userinfo_endpoint: `${issuer}/oauth/userinfo`,
      end_session_endpoint: `${issuer}/oauth/end-session`,
      revocation_endpoint: `${issuer}/oauth/revoke`,
      introspection_endpoint: `${issuer}/oauth/introspect`,
      jwks_uri: `${issuer}/.well-known/jwks.json`,
      grant_types_supported: Object.keys(grantParams),
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      code_challenge_methods_supported: ['S256'],
      subject_types_supported: ['public'],
      prompt_values_supported: [...PROMPTS],
      claims_supported: [
        'iss',
        'sub',
        'aud',
        'exp',
        'iat',
        'auth_time',
        'nonce',
        'sid',
        'at_hash',
        'name',
        'preferred_username',
        'email',
        'email_verified',
      ],
      authorization_response_iss_parameter_supported: true,
      backchannel_logout_supported: true,
      backchannel_logout_session_supported: true,
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      // The OpenID scopes userinfo serves, and what the first-party client may have.
      scopes_supported: [...new Set(['openid', 'profile', 'email', ...service.config.WEB_CLIENT_SCOPES])],
      id_token_signing_alg_values_supported: ['RS256'],
      // Extensions (docs/WIRE-CONTRACT.md).
      revocation_feed_endpoint: `${issuer}/revocations`,
      revocation_stream_endpoint: `${issuer}/revocations/stream`,
      registration_endpoint_first_party: `${issuer}/auth/register`,
    };
  };
}

export function jwksEndpoint(service: TokenService): Middleware {
  return (ctx) => {
    ctx.set('Cache-Control', `public, max-age=${Math.floor(service.config.JWKS_MAX_AGE / 1000)}`);
    ctx.body = service.keys.jwks;
  };
}

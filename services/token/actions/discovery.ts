// RFC 8414 metadata and the JWKS.
import type { Middleware } from 'koa';
import type { TokenService } from '../context.ts';
import { grantParams } from '../schemas/token.ts';

export function metadataEndpoint(service: TokenService): Middleware {
  return (ctx) => {
    const issuer = service.config.ISSUER;
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = {
      issuer,
      token_endpoint: `${issuer}/oauth/token`,
      revocation_endpoint: `${issuer}/oauth/revoke`,
      introspection_endpoint: `${issuer}/oauth/introspect`,
      jwks_uri: `${issuer}/.well-known/jwks.json`,
      grant_types_supported: Object.keys(grantParams),
      response_types_supported: [],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      scopes_supported: service.config.WEB_CLIENT_SCOPES,
      id_token_signing_alg_values_supported: ['RS256'],
      token_endpoint_auth_signing_alg_values_supported: ['RS256'],
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

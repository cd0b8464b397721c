// RFC 8414 authorization server metadata: the one URL the gateway is given
// (the issuer) leads to the JWKS and the revocation feed.
import { z } from 'zod';
import { fetchJson } from '../lib/fetch-json.ts';

export interface IssuerMetadata {
  issuer: string;
  jwksUri: string;
  revocationFeedEndpoint: string;
  revocationStreamEndpoint: string;
  /** For cookie sessions (gateway/sessions/): where browsers sign in, as the issuer publishes it (never rewritten). */
  authorizationEndpoint: string | undefined;
  /** The rest are called by the gateway itself, so they are rewritten onto the internal URL like the feed. */
  tokenEndpoint: string;
  revocationEndpoint: string | undefined;
  userinfoEndpoint: string | undefined;
  endSessionEndpoint: string | undefined;
}

const metadataSchema = z.object({
  issuer: z.string(),
  jwks_uri: z.url({ protocol: /^https?$/ }),
  revocation_feed_endpoint: z.url({ protocol: /^https?$/ }).optional(),
  revocation_stream_endpoint: z.url({ protocol: /^https?$/ }).optional(),
  authorization_endpoint: z.url({ protocol: /^https?$/ }).optional(),
  token_endpoint: z.url({ protocol: /^https?$/ }).optional(),
  revocation_endpoint: z.url({ protocol: /^https?$/ }).optional(),
  userinfo_endpoint: z.url({ protocol: /^https?$/ }).optional(),
  end_session_endpoint: z.url({ protocol: /^https?$/ }).optional(),
});

/** `https://as.example/tenant` → `https://as.example/.well-known/oauth-authorization-server/tenant` (RFC 8414 §3.1). */
export function metadataUrl(issuer: string): string {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/+$/, '');
  return `${url.origin}/.well-known/oauth-authorization-server${path}`;
}

export interface DiscoveryOptions {
  signal?: AbortSignal;
  /**
   * Where the gateway reaches the token service when that differs from the
   * public issuer URL (a container network, one instance of several). The
   * metadata is fetched there, and endpoint URLs under the issuer are
   * rewritten onto it; the issuer string itself is still what tokens must carry.
   */
  serviceUrl?: string | undefined;
}

export async function discoverIssuer(issuer: string, options: DiscoveryOptions = {}): Promise<IssuerMetadata> {
  const internal = options.serviceUrl?.replace(/\/+$/, '');
  const url = internal ? metadataUrl(internal) : metadataUrl(issuer);
  const { body } = await fetchJson(url, options);
  const parsed = metadataSchema.safeParse(body);
  if (!parsed.success)
    throw new Error(`${url}: unusable metadata: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  // RFC 8414 §3.3: the metadata must name exactly the issuer we were configured with.
  if (parsed.data.issuer !== issuer) {
    throw new Error(`${url}: metadata issuer "${parsed.data.issuer}" is not the configured issuer "${issuer}"`);
  }
  const base = issuer.replace(/\/+$/, '');
  const reach = (endpoint: string): string =>
    internal && (endpoint === base || endpoint.startsWith(`${base}/`)) ? internal + endpoint.slice(base.length) : endpoint;
  return {
    issuer,
    jwksUri: reach(parsed.data.jwks_uri),
    revocationFeedEndpoint: reach(parsed.data.revocation_feed_endpoint ?? `${base}/revocations`),
    revocationStreamEndpoint: reach(parsed.data.revocation_stream_endpoint ?? `${base}/revocations/stream`),
    authorizationEndpoint: parsed.data.authorization_endpoint,
    tokenEndpoint: reach(parsed.data.token_endpoint ?? `${base}/oauth/token`),
    revocationEndpoint: parsed.data.revocation_endpoint && reach(parsed.data.revocation_endpoint),
    userinfoEndpoint: parsed.data.userinfo_endpoint && reach(parsed.data.userinfo_endpoint),
    endSessionEndpoint: parsed.data.end_session_endpoint && reach(parsed.data.end_session_endpoint),
  };
}

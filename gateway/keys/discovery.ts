// RFC 8414 authorization server metadata: the one URL the gateway is given
// (the issuer) leads to the JWKS and the revocation feed.
import { z } from 'zod';
import { fetchJson } from '../lib/fetch-json.ts';

export interface IssuerMetadata {
  issuer: string;
  jwksUri: string;
  revocationFeedEndpoint: string;
  revocationStreamEndpoint: string;
}

const metadataSchema = z.object({
  issuer: z.string(),
  jwks_uri: z.url({ protocol: /^https?$/ }),
  revocation_feed_endpoint: z.url({ protocol: /^https?$/ }).optional(),
  revocation_stream_endpoint: z.url({ protocol: /^https?$/ }).optional(),
});

/** `https://as.example/tenant` → `https://as.example/.well-known/oauth-authorization-server/tenant` (RFC 8414 §3.1). */
export function metadataUrl(issuer: string): string {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/+$/, '');
  return `${url.origin}/.well-known/oauth-authorization-server${path}`;
}

export async function discoverIssuer(issuer: string, options: { signal?: AbortSignal } = {}): Promise<IssuerMetadata> {
  const url = metadataUrl(issuer);
  const { body } = await fetchJson(url, options);
  const parsed = metadataSchema.safeParse(body);
  if (!parsed.success) throw new Error(`${url}: unusable metadata: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  // RFC 8414 §3.3: the metadata must name exactly the issuer we were configured with.
  if (parsed.data.issuer !== issuer) {
    throw new Error(`${url}: metadata issuer "${parsed.data.issuer}" is not the configured issuer "${issuer}"`);
  }
  const base = issuer.replace(/\/+$/, '');
  return {
    issuer,
    jwksUri: parsed.data.jwks_uri,
    revocationFeedEndpoint: parsed.data.revocation_feed_endpoint ?? `${base}/revocations`,
    revocationStreamEndpoint: parsed.data.revocation_stream_endpoint ?? `${base}/revocations/stream`,
  };
}

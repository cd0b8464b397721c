// Prometheus metrics of one gateway, in a registry of its own (several
// gateways may share a process in tests). Counters owned by other modules
// (key store, verifier, denylist, feed, identity asserter) are read when scraped, so the request
// path pays only for the two counters it increments.
import client from 'prom-client';
import type { KeyStore } from './keys/key-store.ts';
import type { Denylist } from './revocations/denylist.ts';
import type { RevocationFeedClient } from './revocations/feed-client.ts';
import type { AccessTokenVerifier } from './tokens/verify-access-token.ts';

export interface MetricSources {
  keys: KeyStore;
  verifier: AccessTokenVerifier;
  denylist: Denylist;
  feed: RevocationFeedClient;
  /** The identity asserter's counts; undefined while it does not exist (GATEWAY_ASSERTION off). */
  assertionStats?: () => { readonly signatures: number; readonly cacheHits: number } | undefined;
}

export class GatewayMetrics {
  readonly registry = new client.Registry();
  readonly requests = new client.Counter({
    name: 'gateway_requests_total',
    help: 'Requests, by route and status',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  });
  readonly authOutcomes = new client.Counter({
    name: 'gateway_auth_outcomes_total',
    help: 'Policy decisions: authenticated, anonymous, or the rejection and its reason',
    labelNames: ['outcome', 'reason'] as const,
    registers: [this.registry],
  });
  readonly upstreamLatency = new client.Histogram({
    name: 'gateway_upstream_response_seconds',
    help: 'Time from forwarding a request to the upstream response headers, by route',
    labelNames: ['route'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly revocationPropagation = new client.Histogram({
    name: 'gateway_revocation_propagation_seconds',
    help: 'From the revocation entry being written at the token service to it being applied here',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30],
    registers: [this.registry],
  });

  constructor(sources: MetricSources) {
    client.collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    new client.Gauge({
      name: 'gateway_denylist_entries',
      help: 'Revocations held in memory, by kind',
      labelNames: ['kind'] as const,
      registers,
      collect() {
        const size = sources.denylist.size;
        this.set({ kind: 'session' }, size.sessions);
        this.set({ kind: 'token' }, size.tokens);
        this.set({ kind: 'user' }, size.users);
      },
    });
    new client.Gauge({
      name: 'gateway_revocation_feed_connected',
      help: '1 while the live revocation stream is connected and replayed, else 0',
      registers,
      collect() {
        this.set(sources.feed.status().live ? 1 : 0);
      },
    });
    new client.Gauge({
      name: 'gateway_revocation_feed_staleness_seconds',
      help: 'How long the denylist has not been known complete (0 while live; -1 before the first sync)',
      registers,
      collect() {
        const ms = sources.feed.stalenessMs();
        this.set(Number.isFinite(ms) ? ms / 1000 : -1);
      },
    });
    new client.Gauge({
      name: 'gateway_revocation_feed_cursor',
      help: 'Id of the last revocation-log entry applied',
      registers,
      collect() {
        this.set(sources.feed.status().cursor);
      },
    });
    new client.Gauge({
      name: 'gateway_jwks_fetches',
      help: 'JWKS fetches since start (all, and those caused by an unknown kid)',
      labelNames: ['cause'] as const,
      registers,
      collect() {
        this.set({ cause: 'all' }, sources.keys.stats.fetches);
        this.set({ cause: 'unknown_kid' }, sources.keys.stats.unknownKidRefetches);
      },
    });
    new client.Gauge({
      name: 'gateway_token_verifications',
      help: 'Access-token checks since start: RSA verifications and verification-cache hits',
      labelNames: ['result'] as const,
      registers,
      collect() {
        this.set({ result: 'verified' }, sources.verifier.stats.verifications);
        this.set({ result: 'cache_hit' }, sources.verifier.stats.cacheHits);
      },
    });
    new client.Gauge({
      name: 'gateway_identity_assertions',
      help: 'X-Auth-Assertion values attached since start: RSA signatures and assertion-cache hits',
      labelNames: ['result'] as const,
      registers,
      collect() {
        const stats = sources.assertionStats?.();
        if (!stats) return;
        this.set({ result: 'signed' }, stats.signatures);
        this.set({ result: 'cache_hit' }, stats.cacheHits);
      },
    });
  }
}

// Prometheus metrics of one token-service instance, in a registry of its own
// (several instances may share a process in tests).
import client from 'prom-client';
import type { Knex } from 'knex';

export class TokenMetrics {
  readonly registry = new client.Registry();
  readonly tokensIssued = new client.Counter({
    name: 'token_issued_total',
    help: 'Access tokens issued, by grant type',
    labelNames: ['grant'] as const,
    registers: [this.registry],
  });
  readonly refreshes = new client.Counter({
    name: 'token_refresh_total',
    help: 'Refresh-token presentations, by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly revocations = new client.Counter({
    name: 'token_revocations_total',
    help: 'Revocation-log entries written by this instance, by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly loginFailures = new client.Counter({
    name: 'token_login_failures_total',
    help: 'Failed password logins, by reason (invalid_credentials; throttled: account locked; busy: hashing queue full)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly httpRequests = new client.Counter({
    name: 'token_http_requests_total',
    help: 'HTTP requests, by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new client.Histogram({
    name: 'token_http_request_duration_seconds',
    help: 'HTTP request latency, by route',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  constructor(sources: { knex: Knex; revocationStreams: () => number }) {
    client.collectDefaultMetrics({ register: this.registry });
    new client.Gauge({
      name: 'token_db_pool_connections',
      help: 'Database pool connections, by state (used, free, pending acquires)',
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        const pool = (sources.knex.client as { pool?: { numUsed(): number; numFree(): number; numPendingAcquires(): number } }).pool;
        if (!pool) return;
        this.set({ state: 'used' }, pool.numUsed());
        this.set({ state: 'free' }, pool.numFree());
        this.set({ state: 'pending' }, pool.numPendingAcquires());
      },
    });
    new client.Gauge({
      name: 'token_revocation_streams',
      help: "Gateways connected to this instance's revocation stream",
      registers: [this.registry],
      collect() {
        this.set(sources.revocationStreams());
      },
    });
  }
}

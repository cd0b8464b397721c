// The child side of bench/lib/children.ts: one process that runs whatever the
// parent asks for — a token service, a gateway, a small upstream, a bare
// http-proxy, or a load generator — and answers questions about itself (RSS,
// event-loop delay, a CPU profile). Started as `node --import tsx host.ts`
// with an IPC channel; exits when the parent goes away.
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { constants as perfConstants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import type { Gateway } from '../../gateway/app.ts';
import type { GatewayConfig } from '../../gateway/config.ts';
import type { TestTokenService } from '../../test/support/token-service.ts';
import type { TestDatabase } from '../../test/support/databases.ts';
import type { LoadSpec } from './load.ts';
import type { SoakSpec } from './soak-client.ts';
import type { BurstSpec } from './burst-client.ts';
import { startAllocationProfile, startProfile, stopAllocationProfile, stopProfile } from './profile.ts';

// Modules are imported by the command that needs them, so that a gateway
// process's RSS holds the gateway and not also the token service's database
// drivers (and the other way round).

type Handler = (args: never) => Promise<unknown> | unknown;

const closers: Array<() => Promise<unknown>> = [];
let tokenService: TestTokenService | undefined;
let gateway: Gateway | undefined;

// Event-loop delay of this process, always on (a 10 ms timer costs nothing measurable).
// The histogram holds the time between timer ticks; the delay is what exceeds the interval.
const LOOP_DELAY_RESOLUTION_MS = 10;
const loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
loopDelay.enable();

const delayMs = (ns: number) => Math.max(0, ns / 1e6 - LOOP_DELAY_RESOLUTION_MS);

// Garbage collections of this process: count and pause time (main thread), young and old generation.
const gc = { minor: 0, minorMs: 0, major: 0, majorMs: 0 };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind = (entry as unknown as { detail?: { kind?: number } }).detail?.kind;
    if (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) {
      gc.minor += 1;
      gc.minorMs += entry.duration;
    } else {
      gc.major += 1;
      gc.majorMs += entry.duration;
    }
  }
}).observe({ entryTypes: ['gc'] });

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

const handlers: Record<string, Handler> = {
  /** The real token service on a database the parent created (PostgreSQL) or a fresh in-memory PGlite. */
  async startTokenService(args: { env?: Record<string, string>; database?: { env: Record<string, string>; kind: 'postgres' | 'pglite' } }) {
    const { startTestTokenService } = await import('../../test/support/token-service.ts');
    const database: TestDatabase | undefined = args.database && { ...args.database, drop: async () => undefined };
    tokenService = await startTestTokenService({ env: args.env ?? {}, ...(database ? { database } : {}) });
    closers.push(() => (tokenService as TestTokenService).stop());
    return { url: tokenService.url, kind: tokenService.database.kind };
  },

  /**
   * Pre-issues `count` sessions of one user, each with one live refresh token,
   * by bulk SQL (logging in `count` times at scrypt cost 17 would take hours).
   * Scope, audiences and lifetime are copied from a session a real login created.
   */
  async seedRefreshTokens(args: { userId: string; count: number }) {
    const knex = (tokenService as TestTokenService).service.knex;
    const template = await knex('sessions').where({ user_id: args.userId }).first('client_id', 'scope', 'audiences', 'expires_at');
    if (!template) throw new Error('log in once before seeding: no session to copy');
    const tokens: string[] = [];
    const batch = 1000;
    for (let done = 0; done < args.count; done += batch) {
      const sessions: Array<Record<string, unknown>> = [];
      const refreshTokens: Array<Record<string, unknown>> = [];
      for (let i = done; i < Math.min(args.count, done + batch); i += 1) {
        const id = crypto.randomUUID();
        const token = crypto.randomBytes(32).toString('base64url');
        tokens.push(token);
        sessions.push({ id, user_id: args.userId, client_id: template.client_id, scope: template.scope, audiences: template.audiences, expires_at: template.expires_at });
        refreshTokens.push({
          session_id: id,
          token_hash: crypto.createHash('sha256').update(token, 'utf8').digest('hex'),
          expires_at: template.expires_at,
        });
      }
      await knex.transaction(async (trx) => {
        await trx('sessions').insert(sessions);
        await trx('refresh_tokens').insert(refreshTokens);
      });
    }
    return tokens;
  },

  /** Appends `count` session revocations (random sids, live for hours) to the log in bulk. */
  async seedRevocations(args: { count: number }) {
    const knex = (tokenService as TestTokenService).service.knex;
    const chunk = 100_000;
    for (let done = 0; done < args.count; done += chunk) {
      const n = Math.min(chunk, args.count - done);
      await knex.raw(
        `INSERT INTO revocations (kind, key, expires_at)
         SELECT 'session', gen_random_uuid()::text, now() + interval '3 hours' FROM generate_series(1, ?)`,
        [n],
      );
    }
    const [row] = await knex('revocations').count('* as count');
    return Number(row?.count ?? 0);
  },

  /** Our gateway; resolves once keys are loaded, the denylist synced and the stream live. */
  async startGateway(args: { config: Partial<GatewayConfig>; logLevel?: string; readyTimeoutMs?: number }) {
    const { startGateway } = await import('../../gateway/app.ts');
    const { createLogger } = await import('../../common/logger.ts');
    const started = performance.now();
    gateway = await startGateway(
      { port: 0, host: '127.0.0.1', ...args.config },
      {
        logger: createLogger({ name: 'gateway', level: args.logLevel ?? 'info' }),
        env: {},
        readyTimeoutMs: args.readyTimeoutMs ?? 60_000,
      },
    );
    const readyMs = performance.now() - started;
    closers.push(() => (gateway as Gateway).close());
    return { url: gateway.url, readyMs, denylist: gateway.denylist.size, cursor: gateway.feed.cursor };
  },

  /** The same small upstream for every case: a fixed JSON body. */
  async startUpstream() {
    const body = Buffer.from(JSON.stringify({ ok: true, service: 'bench-upstream' }));
    const server = http.createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
      res.end(body);
    });
    const url = await listen(server);
    closers.push(() => closeServer(server));
    return { url };
  },

  /** The baseline: http-proxy passing everything through over a keep-alive agent, nothing else. */
  async startBareProxy(args: { target: string }) {
    const { default: httpProxy } = await import('http-proxy');
    const agent = new http.Agent({ keepAlive: true });
    const proxy = httpProxy.createProxyServer({ target: args.target, agent });
    const server = http.createServer((req, res) => {
      proxy.web(req, res, {}, () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
    });
    const url = await listen(server);
    closers.push(async () => {
      await closeServer(server);
      agent.destroy();
    });
    return { url };
  },

  async runLoad(args: LoadSpec) {
    const { runLoad } = await import('./load.ts');
    return runLoad(args);
  },

  async runBursts(args: BurstSpec) {
    const { runBursts } = await import('./burst-client.ts');
    return runBursts(args);
  },

  async runSoak(args: SoakSpec) {
    const { runSoak } = await import('./soak-client.ts');
    return runSoak(args);
  },

  /** Memory and event-loop delay of this process (delay since the last reset, in ms). */
  stats(args: { gc?: boolean }) {
    if (args.gc && typeof globalThis.gc === 'function') globalThis.gc();
    const memory = process.memoryUsage();
    const cpu = process.cpuUsage();
    return {
      cpuUs: cpu.user + cpu.system,
      rss: memory.rss,
      heapUsed: memory.heapUsed,
      external: memory.external,
      arrayBuffers: memory.arrayBuffers,
      loopDelay: {
        count: loopDelay.count,
        mean: delayMs(loopDelay.mean),
        p50: delayMs(loopDelay.percentile(50)),
        p99: delayMs(loopDelay.percentile(99)),
        max: delayMs(loopDelay.max),
      },
      denylist: gateway?.denylist.size,
      verifier: gateway ? { ...gateway.verifier.stats } : undefined,
      gc: { ...gc },
    };
  },

  resetLoopDelay() {
    loopDelay.reset();
    return true;
  },

  startProfile: () => startProfile(),
  stopProfile: (args: { label: string; top?: number }) => stopProfile(args.label, args.top ?? 15),
  startAllocationProfile: (args: { survivorsOnly?: boolean }) => startAllocationProfile(args.survivorsOnly ?? false),
  stopAllocationProfile: (args: { top?: number }) => stopAllocationProfile(args.top ?? 15),

  async shutdown() {
    setImmediate(async () => {
      for (const close of closers.reverse()) await close().catch(() => undefined);
      process.exit(0);
    });
    return true;
  },
};

process.on('disconnect', () => process.exit(0));
process.on('message', (message: { id: number; command: string; args: unknown }) => {
  const handler = handlers[message.command];
  const reply = (payload: Record<string, unknown>) => process.send?.({ id: message.id, ...payload });
  if (!handler) {
    reply({ ok: false, error: `unknown command ${message.command}` });
    return;
  }
  Promise.resolve()
    .then(() => handler(message.args as never))
    .then(
      (result) => reply({ ok: true, result }),
      (error: Error) => reply({ ok: false, error: error?.stack ?? String(error) }),
    );
});
process.send?.({ ready: true });

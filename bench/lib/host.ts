// The child side of bench/lib/children.ts: one process that runs whatever the
// parent asks for — a token service, a gateway, a small upstream, a bare
// http-proxy, or a load generator — and answers questions about itself (RSS,
// event-loop delay, a CPU profile). Started as `node --import tsx host.ts`
// with an IPC channel; exits when the parent goes away.
import crypto from 'node:crypto';
import type { JWK } from 'jose';
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

const COMPILED_GATEWAY = new URL('../../dist/gateway/app.js', import.meta.url).href;
const COMPILED_LOGGER = new URL('../../dist/common/logger.js', import.meta.url).href;

// Modules are imported by the command that needs them, so that a gateway
// process's RSS holds the gateway and not also the token service's database
// drivers (and the other way round).

type Handler = (args: never) => Promise<unknown> | unknown;

const closers: Array<() => Promise<unknown>> = [];
let tokenService: TestTokenService | undefined;
let sqlStatements = 0;
let gateway: Gateway | undefined;
const floods: Array<{ readonly flushed: number }> = [];

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
    // Every SQL statement the service sends is one round trip to the database: counted, not assumed.
    tokenService.service.knex.on('query', () => (sqlStatements += 1));
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
        sessions.push({
          id,
          user_id: args.userId,
          client_id: template.client_id,
          scope: template.scope,
          audiences: template.audiences,
          expires_at: template.expires_at,
        });
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

  /**
   * Our gateway; resolves once keys are loaded, the denylist synced and the stream live.
   * `compiled`: the tsc output in dist/ (npm run build), as the Docker image runs it.
   */
  async startGateway(args: {
    config: Partial<GatewayConfig>;
    logLevel?: string;
    readyTimeoutMs?: number;
    compiled?: boolean;
    cookieKeys?: string[] | undefined;
  }) {
    const { startGateway } = (
      args.compiled ? await import(COMPILED_GATEWAY) : await import('../../gateway/app.ts')
    ) as typeof import('../../gateway/app.ts');
    const { createLogger } = (
      args.compiled ? await import(COMPILED_LOGGER) : await import('../../common/logger.ts')
    ) as typeof import('../../common/logger.ts');
    const started = performance.now();
    gateway = await startGateway(
      {
        port: 0,
        host: '127.0.0.1',
        ...args.config,
        ...(args.cookieKeys ? { sessionCookieKeys: args.cookieKeys.map((key) => Buffer.from(key, 'base64')) } : {}),
      },
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

  /**
   * A WebSocket upstream: `echo` echoes (and, like a well-behaved app, stops reading while
   * its own send queue is backed up), `sink` never reads, `flood` sends `floodBytes` to each
   * client as fast as its socket takes them (progress: webSocketFloodProgress).
   */
  async startWebSocketUpstream(args: { mode: 'echo' | 'sink' | 'flood'; floodBytes?: number }) {
    const { WebSocketServer } = await import('ws');
    const { relayMessages } = await import('../../gateway/websocket/flow-control.ts');
    const { flood } = await import('../../test/support/websocket-peers.ts');
    const server = http.createServer();
    const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 2 ** 30 });
    wss.on('connection', (socket) => {
      socket.on('error', () => undefined);
      if (args.mode === 'echo')
        relayMessages(socket, socket, { relaying: () => true, stallTimeoutMs: 60_000, onStalled: () => socket.terminate() });
      else if (args.mode === 'sink') socket.pause();
      else floods.push(flood(socket, args.floodBytes ?? 0, 64 * 1024));
    });
    const url = await listen(server);
    closers.push(async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      await closeServer(server);
    });
    return { url };
  },

  /** Bytes the latest `flood` connection has handed to its socket so far. */
  webSocketFloodProgress() {
    return floods.at(-1)?.flushed ?? 0;
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

  /**
   * (n) What the verification cache must beat: jose's jwtVerify (RSA) on every
   * request, with the checks the gateway makes, then the same http-proxy pass-through.
   */
  async startNaiveProxy(args: { target: string; jwk: JWK; issuer: string; audience: string }) {
    const { default: httpProxy } = await import('http-proxy');
    const jose = await import('jose');
    const key = await jose.importJWK(args.jwk, 'RS256');
    const agent = new http.Agent({ keepAlive: true });
    const proxy = httpProxy.createProxyServer({ target: args.target, agent });
    const server = http.createServer((req, res) => {
      const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
      const refuse = () => {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"error":"invalid_token"}');
      };
      if (!token) return refuse();
      jose
        .jwtVerify(token, key, {
          algorithms: ['RS256'],
          typ: 'at+jwt',
          issuer: args.issuer,
          audience: args.audience,
          requiredClaims: ['exp', 'iat', 'jti', 'sub', 'sid'],
        })
        .then(({ payload }) => {
          for (const name of Object.keys(req.headers)) if (name.startsWith('x-auth-')) delete req.headers[name];
          req.headers['x-auth-subject'] = String(payload.sub);
          req.headers['x-auth-scopes'] = String(payload.scope ?? '');
          req.headers['x-auth-session'] = String(payload.sid);
          proxy.web(req, res, {}, () => {
            if (!res.headersSent) res.writeHead(502);
            res.end();
          });
        }, refuse);
    });
    const url = await listen(server);
    closers.push(async () => {
      await closeServer(server);
      agent.destroy();
    });
    return { url };
  },

  /** (u) The floor of any Node proxy core: node:http in front of an undici Pool, stream() pass-through. */
  async startUndiciPassThrough(args: { target: string }) {
    const { Pool } = await import('undici');
    const pool = new Pool(args.target, { keepAliveTimeout: 4000 });
    const server = http.createServer((req, res) => {
      pool
        .stream(
          {
            path: req.url ?? '/',
            method: req.method as 'GET',
            headers: { 'x-forwarded-for': req.socket.remoteAddress ?? '' },
            body: req.method === 'GET' || req.method === 'HEAD' ? null : req,
            opaque: res,
          },
          ({ statusCode, headers, opaque }) => {
            const response = opaque as http.ServerResponse;
            response.writeHead(statusCode, { 'content-type': headers['content-type'] ?? 'application/octet-stream' });
            return response;
          },
        )
        .catch(() => {
          if (!res.headersSent) res.writeHead(502);
          res.end();
        });
    });
    const url = await listen(server);
    closers.push(async () => {
      await closeServer(server);
      await pool.close();
    });
    return { url };
  },

  /**
   * (f) What a Node user would assemble in an afternoon: Fastify 5 +
   * @fastify/http-proxy (undici) + fast-jwt with its verification cache,
   * checking typ, iss, aud and exp and setting identity headers.
   */
  async startFastifyGateway(args: { target: string; jwk: JWK; issuer: string; audience: string }) {
    const { default: Fastify } = await import('fastify');
    const { default: proxy } = await import('@fastify/http-proxy');
    const { createVerifier } = await import('fast-jwt');
    const publicKey = crypto
      .createPublicKey({ key: args.jwk as crypto.JsonWebKey, format: 'jwk' })
      .export({ type: 'spki', format: 'pem' })
      .toString();
    const verify = createVerifier({
      key: publicKey,
      algorithms: ['RS256'],
      allowedIss: args.issuer,
      allowedAud: args.audience,
      requiredClaims: ['exp', 'iat', 'jti', 'sub', 'sid'],
      complete: true,
      cache: 10_000,
    });
    const app = Fastify({ logger: false });
    await app.register(proxy, {
      upstream: args.target,
      prefix: '/private',
      rewritePrefix: '/private',
      preHandler: async (request, reply) => {
        const token = /^Bearer (\S+)$/.exec(request.headers.authorization ?? '')?.[1];
        try {
          if (!token) throw new Error('no token');
          const { header, payload } = verify(token) as { header: { typ?: string }; payload: Record<string, unknown> };
          if (header.typ !== 'at+jwt') throw new Error('typ');
          for (const name of Object.keys(request.headers)) if (name.startsWith('x-auth-')) delete request.headers[name];
          request.headers['x-auth-subject'] = String(payload.sub);
          request.headers['x-auth-scopes'] = String(payload.scope ?? '');
          request.headers['x-auth-session'] = String(payload.sid);
        } catch {
          await reply.code(401).send({ error: 'invalid_token' });
        }
      },
    });
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    closers.push(() => app.close());
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

  /** SQL statements the token service has sent since it started (each a round trip). */
  sqlStatements: () => sqlStatements,
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

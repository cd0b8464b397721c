// Wiring: opens the database, migrates, seeds, loads keys, starts the
// revocation relay and the HTTP server. Used by server.ts and by the tests.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { openDatabase } from '../../db/connection.ts';
import { createLogger, type Logger } from '../../common/logger.ts';
import { hashLimits, type TokenServiceConfig } from './config.ts';
import type { TokenService } from './context.ts';
import { createTokenApp } from './app.ts';
import { RevocationStreams } from './actions/revocation-feed.ts';
import { BackchannelLogoutDeliverer } from './backchannel-logout.ts';
import { seedClients } from './bootstrap.ts';
import { PasswordHasher } from './helpers/passwords.ts';
import { randomToken } from './helpers/secrets.ts';
import { purgeExpired, purgeOptions } from './models/cleanup.ts';
import { CLIENTS_CHANNEL, ClientCache } from './models/clients.ts';
import { SIGNING_KEYS_CHANNEL, SigningKeys } from './models/signing-keys.ts';
import { RevocationHub } from './revocation-hub.ts';
import { TokenMetrics } from './metrics.ts';

export interface RunningTokenService {
  url: string;
  port: number;
  service: TokenService;
  server: http.Server;
  streams: RevocationStreams;
  close(): Promise<void>;
}

const KEY_RELOAD_INTERVAL_MS = 60_000;
// A cached client row is read again after this long even without a NOTIFY (one lost with its connection).
const CLIENT_CACHE_MAX_AGE_MS = 30_000;

export interface StartOptions {
  logger?: Logger | undefined;
  /** The clock; Date.now unless a test sets it. */
  now?: (() => number) | undefined;
}

export async function startTokenService(config: TokenServiceConfig, options: StartOptions = {}): Promise<RunningTokenService> {
  const logger = options.logger ?? createLogger({ name: 'token-service', level: config.LOG_LEVEL });
  if (!config.KEY_ENCRYPTION_KEY) {
    logger.warn('KEY_ENCRYPTION_KEY is not set: signing keys are stored unencrypted in the database');
  }
  const db = await openDatabase({
    databaseUrl: config.DATABASE_URL,
    dataDir: config.DATA_DIR,
    poolMax: config.DATABASE_POOL_MAX,
    stallTimeoutMs: config.DATABASE_STALL_TIMEOUT,
  });
  const cleanups: Array<() => Promise<unknown>> = [() => db.close()];
  try {
    await db.migrate();
    await seedClients(db.knex, config, logger);
    const keys = new SigningKeys(db.knex, {
      encryptionKey: config.KEY_ENCRYPTION_KEY,
      retiredKeyLifetimeMs: config.ACCESS_TOKEN_TTL + 60_000,
      logger,
    });
    await keys.init();
    // Another instance may rotate: reload on its NOTIFY, and periodically in case one was missed.
    const reloadKeys = (): void => {
      keys.reload().catch((error: unknown) => logger.error({ err: error }, 'reloading signing keys failed'));
    };
    const stopKeyListener = await db.listen(SIGNING_KEYS_CHANNEL, reloadKeys);
    const keyTimer = setInterval(reloadKeys, KEY_RELOAD_INTERVAL_MS);
    keyTimer.unref();
    cleanups.unshift(async () => {
      clearInterval(keyTimer);
      await stopKeyListener();
    });

    // Client rows are read once and forgotten when any instance changes them.
    const clients = new ClientCache(db.knex, { maxAgeMs: CLIENT_CACHE_MAX_AGE_MS, maxEntries: 1000, now: options.now });
    const stopClientListener = await db.listen(CLIENTS_CHANNEL, (clientId) => clients.invalidate(clientId));
    cleanups.unshift(() => stopClientListener());

    const revocations = new RevocationHub(db, logger);
    await revocations.start();
    cleanups.unshift(() => revocations.stop());

    const logoutDeliveries = new BackchannelLogoutDeliverer(db, keys, config, logger, options.now);
    await logoutDeliveries.start();
    cleanups.unshift(() => logoutDeliveries.stop());

    const streams = new RevocationStreams();
    const service: TokenService = {
      config,
      db,
      knex: db.knex,
      keys,
      clients,
      passwords: new PasswordHasher(config.PASSWORD_HASH_COST, hashLimits(config)),
      revocations,
      logger,
      metrics: new TokenMetrics({ knex: db.knex, revocationStreams: () => streams.size }),
      now: options.now ?? Date.now,
    };
    // With the embedded database this process is the only way in: the admin
    // endpoint lets `authctl` work while the service runs.
    const adminFile =
      db.kind === 'pglite' && !config.DATA_DIR.startsWith('memory://') ? path.join(config.DATA_DIR, 'admin.json') : undefined;
    if (adminFile) service.adminToken = randomToken(32);

    const app = createTokenApp(service, streams);
    const server = http.createServer(app.callback());
    // Slow-header clients are cut off; idle keep-alive sockets outlive typical proxies' pools.
    server.headersTimeout = 15_000;
    server.requestTimeout = 30_000;
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.TOKEN_PORT, config.TOKEN_HOST, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const url = `http://${config.TOKEN_HOST.includes(':') ? `[${config.TOKEN_HOST}]` : config.TOKEN_HOST}:${port}`;
    logger.info({ url, issuer: config.ISSUER, database: db.kind }, 'token service listening');
    if (adminFile) {
      const local = `http://${config.TOKEN_HOST === '0.0.0.0' || config.TOKEN_HOST === '::' ? '127.0.0.1' : config.TOKEN_HOST}:${port}`;
      fs.writeFileSync(adminFile, JSON.stringify({ url: local, token: service.adminToken, pid: process.pid }), { mode: 0o600 });
      cleanups.unshift(async () => fs.rmSync(adminFile, { force: true }));
    }
    if (config.CLEANUP_INTERVAL > 0) {
      const purge = (): void => {
        purgeExpired(db.knex, purgeOptions(config)).then(
          (counts) => logger.debug({ counts }, 'purged expired rows'),
          (error: unknown) => logger.warn({ err: error }, 'cleanup failed; will retry'),
        );
      };
      // Jitter keeps several instances from purging in lock-step.
      const cleanupTimer = setInterval(purge, config.CLEANUP_INTERVAL + Math.floor(Math.random() * 0.1 * config.CLEANUP_INTERVAL));
      cleanupTimer.unref();
      cleanups.unshift(async () => clearInterval(cleanupTimer));
    }

    let closing: Promise<void> | undefined;
    const close = (): Promise<void> => {
      closing ??= (async () => {
        streams.closeAll();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
          // In-flight requests get a bounded time to finish.
          setTimeout(() => {
            server.closeAllConnections();
            resolve();
          }, 10_000).unref();
        });
        for (const cleanup of cleanups) await cleanup();
      })();
      return closing;
    };
    return { url, port, service, server, streams, close };
  } catch (error) {
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
    throw error;
  }
}

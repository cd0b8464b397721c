// Starts the real token service (real Koa app, real database) for a suite.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEVELOPMENT_GATEWAY_CLIENT_SECRET } from '../../common/development.ts';
import { createLogger, type Logger } from '../../common/logger.ts';
import { loadTokenServiceConfig } from '../../services/token/config.ts';
import { startTokenService, type RunningTokenService } from '../../services/token/service.ts';
import { sha256Hex } from '../../services/token/helpers/secrets.ts';
import { upsertClient } from '../../services/token/models/clients.ts';
import { createTestDatabase, type TestDatabase } from './databases.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
export const DEV_CLIENTS_FILE = path.join(here, '../../services/token/clients.dev.json');
export const GATEWAY_CLIENT = { id: 'gateway', secret: DEVELOPMENT_GATEWAY_CLIENT_SECRET };
export const DEMO_SERVICE_CLIENT = { id: 'demo-service', secret: 'dev-demo-service-secret-change-me-0123456789' };
/** A confidential client that authenticates with client_secret_post (the body), registered in every test service. */
export const POST_CLIENT = { id: 'test-post-client', secret: 'test-post-client-secret-0123456789abcdef' };

export interface TestTokenService extends RunningTokenService {
  database: TestDatabase;
  stop(): Promise<void>;
}

export interface StartOptions {
  env?: Record<string, string>;
  /** Reuse another instance's database (multi-instance tests). */
  database?: TestDatabase;
  logger?: Logger;
  /** The service's clock (see testClock); Date.now by default. */
  now?: () => number;
}

/** A clock a test moves forward instead of sleeping. */
export function testClock(): { now: () => number; advance(ms: number): void } {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    advance(ms) {
      offset += ms;
    },
  };
}

export async function startTestTokenService(options: StartOptions = {}): Promise<TestTokenService> {
  const database = options.database ?? (await createTestDatabase());
  const config = loadTokenServiceConfig({
    TOKEN_HOST: '127.0.0.1',
    TOKEN_PORT: '0',
    ISSUER: 'http://issuer.test',
    // The cost is a parameter of each stored hash; tests use a cheaper one.
    PASSWORD_HASH_COST: '12',
    CLIENTS_FILE: DEV_CLIENTS_FILE,
    GATEWAY_CLIENT_SECRET: GATEWAY_CLIENT.secret,
    LOG_LEVEL: 'silent',
    ...database.env,
    ...options.env,
  });
  const logger = options.logger ?? createLogger({ name: 'token-service', level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const running = await startTokenService(config, { logger, now: options.now });
  await upsertClient(running.service.knex, {
    client_id: POST_CLIENT.id,
    secret_hash: sha256Hex(POST_CLIENT.secret),
    token_endpoint_auth_method: 'client_secret_post',
    grant_types: ['client_credentials'],
    scopes: ['notes:read'],
    audiences: ['notes'],
  });
  return {
    ...running,
    database,
    async stop() {
      await running.close();
      if (!options.database) await database.drop();
    },
  };
}

/** The token service of a suite (useTestTokenService): read it inside tests and hooks. */
export interface SuiteTokenService {
  readonly url: string;
  readonly service: TestTokenService['service'];
  readonly database: TestDatabase;
}

/**
 * Starts a token service before the enclosing suite's tests and stops it
 * after them (mocha hooks, registered where this is called). `options` may be
 * a function, called in the hook, for what must be made per run.
 */
export function useTestTokenService(options: StartOptions | (() => StartOptions) = {}): SuiteTokenService {
  let running: TestTokenService | undefined;
  before(async () => {
    running = await startTestTokenService(typeof options === 'function' ? options() : options);
  });
  after(() => running?.stop());
  const started = (): TestTokenService => {
    if (!running) throw new Error('the suite token service is not started: use it inside tests and hooks');
    return running;
  };
  return {
    get url() {
      return started().url;
    },
    get service() {
      return started().service;
    },
    get database() {
      return started().database;
    },
  };
}

// Everything an action needs, built once at start-up and passed explicitly.
import type { Knex } from 'knex';
import type { Database } from '../../db/connection.ts';
import type { Logger } from '../../common/logger.ts';
import type { TokenServiceConfig } from './config.ts';
import type { PasswordHasher } from './helpers/passwords.ts';
import type { ClientDirectory } from './models/clients.ts';
import type { SigningKeys } from './models/signing-keys.ts';
import type { RevocationHub } from './revocation-hub.ts';
import type { TokenMetrics } from './metrics.ts';

export interface TokenService {
  config: TokenServiceConfig;
  db: Database;
  knex: Knex;
  keys: SigningKeys;
  /** Client rows, cached in memory and forgotten on change (models/clients.ts ClientCache). */
  clients: ClientDirectory;
  passwords: PasswordHasher;
  revocations: RevocationHub;
  logger: Logger;
  metrics: TokenMetrics;
  /** The clock (ms since the epoch): Date.now, or a test's. The refresh function writes its times with it; column defaults and revocations still use the database's. */
  now: () => number;
  /** Set when the admin endpoint is enabled (embedded database held by this process). */
  adminToken?: string | undefined;
}

/** The audience of the token service's own account endpoints (/auth/*). */
export const accountAudience = (service: TokenService): string => service.config.ISSUER;

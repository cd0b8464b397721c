// Entry point: `npm run start:token`.
import { ConfigError, portInUseMessage } from '../../common/env.ts';
import { createLogger } from '../../common/logger.ts';
import { loadTokenServiceConfig } from './config.ts';
import { startTokenService } from './service.ts';

let config;
try {
  config = loadTokenServiceConfig();
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
}
const logger = createLogger({ name: 'token-service', level: config.LOG_LEVEL });
try {
  const running = await startTokenService(config, { logger });
  const shutdown = (signal: string): void => {
    logger.info({ signal }, 'shutting down');
    running.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
} catch (error) {
  const inUse = portInUseMessage(error, 'TOKEN_PORT', config.TOKEN_PORT);
  if (inUse) logger.fatal(inUse);
  else logger.fatal({ err: error }, (error as Error).message);
  process.exit(1);
}

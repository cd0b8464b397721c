// Entry point: `npm run start:gateway`. Configuration from the environment
// (see config.ts); SIGTERM/SIGINT close gracefully, SIGHUP reloads the routes.
import { ConfigError, portInUseMessage } from '../common/env.ts';
import { createLogger } from '../common/logger.ts';
import { startGateway } from './app.ts';
import { loadConfig, type GatewayConfig } from './config.ts';
import { RoutesError } from './routes/schema.ts';

let config: GatewayConfig;
try {
  config = loadConfig(process.env);
} catch (error) {
  createLogger({ name: 'gateway', level: 'fatal' }).fatal(error instanceof ConfigError ? error.message : String(error));
  process.exit(1);
}
const logger = createLogger({ name: 'gateway', level: config.logLevel });

try {
  // Listen at once (so /healthz answers) and become ready when the token service is reachable.
  const gateway = await startGateway(config, { logger, waitUntilReady: false });
  void gateway.whenReady();

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), config.shutdownGraceMs + 5000);
    force.unref();
    gateway.close().then(
      () => process.exit(0),
      (error: Error) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => void gateway.routes.reload());
} catch (error) {
  const inUse = portInUseMessage(error, 'GATEWAY_PORT', config.port);
  if (error instanceof RoutesError || error instanceof ConfigError || inUse) {
    logger.fatal(inUse ?? (error as Error).message);
  } else {
    logger.fatal({ err: error }, 'gateway failed to start');
  }
  process.exitCode = 1;
}

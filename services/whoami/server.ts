// Entry point for the whoami demo app (WHOAMI_PORT, default 4101).
import { z } from 'zod';
import { parseEnv, port, portInUseMessage } from '../../common/env.ts';
import { createLogger } from '../../common/logger.ts';
import { startWhoami } from './app.ts';

const env = parseEnv({ WHOAMI_PORT: port(4101), WHOAMI_HOST: z.string().default('127.0.0.1') }, process.env);
const logger = createLogger({ name: 'whoami' });
const app = await startWhoami({ port: env.WHOAMI_PORT, host: env.WHOAMI_HOST, logger }).catch((error: unknown) => {
  const inUse = portInUseMessage(error, 'WHOAMI_PORT', env.WHOAMI_PORT);
  if (!inUse) throw error;
  console.error(inUse);
  process.exit(1);
});
const stop = () => void app.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

// Entry point for the demo web app's static server (WEB_PORT, default 4103).
import { z } from 'zod';
import { parseEnv, port, portInUseMessage } from '../../common/env.ts';
import { createLogger } from '../../common/logger.ts';
import { startWeb } from './app.ts';

const env = parseEnv({ WEB_PORT: port(4103), WEB_HOST: z.string().default('127.0.0.1') }, process.env);
const logger = createLogger({ name: 'web' });
const app = await startWeb({ port: env.WEB_PORT, host: env.WEB_HOST, logger }).catch((error: unknown) => {
  const inUse = portInUseMessage(error, 'WEB_PORT', env.WEB_PORT);
  if (!inUse) throw error;
  console.error(inUse);
  process.exit(1);
});
const stop = () => void app.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

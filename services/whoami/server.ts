// Entry point for the whoami demo app (WHOAMI_PORT, default 4101). With GATEWAY_JWKS_URL it
// verifies the gateway's X-Auth-Assertion (issuer GATEWAY_PUBLIC_URL, by default that URL's origin)
// and refuses requests without a valid one; without it, it trusts the X-Auth-* headers.
import { z } from 'zod';
import { parseEnv, port, portInUseMessage } from '../../common/env.ts';
import { createLogger } from '../../common/logger.ts';
import { startWhoami } from './app.ts';

const env = parseEnv(
  {
    WHOAMI_PORT: port(4101),
    WHOAMI_HOST: z.string().default('127.0.0.1'),
    GATEWAY_JWKS_URL: z.url({ protocol: /^https?$/ }).optional(),
    GATEWAY_PUBLIC_URL: z.url({ protocol: /^https?$/ }).optional(),
  },
  process.env,
);
const logger = createLogger({ name: 'whoami' });
const app = await startWhoami({
  port: env.WHOAMI_PORT,
  host: env.WHOAMI_HOST,
  logger,
  ...(env.GATEWAY_JWKS_URL
    ? { assertion: { jwksUrl: env.GATEWAY_JWKS_URL, issuer: env.GATEWAY_PUBLIC_URL ?? new URL(env.GATEWAY_JWKS_URL).origin } }
    : {}),
}).catch((error: unknown) => {
  const inUse = portInUseMessage(error, 'WHOAMI_PORT', env.WHOAMI_PORT);
  if (!inUse) throw error;
  console.error(inUse);
  process.exit(1);
});
const stop = () => void app.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

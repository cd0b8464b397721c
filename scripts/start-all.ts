// `npm start`: the whole product on one machine and the embedded database:
// token service (:4000), the demo apps (:4101, :4102), the browser app (:4103)
// and the gateway (:8080), which serves the browser app at /.
// Each is its own deployable; this script only runs them side by side.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, parseEnv, port, portInUseMessage } from '../common/env.ts';
import { createLogger } from '../common/logger.ts';
import { loadTokenServiceConfig } from '../services/token/config.ts';
import { startTokenService } from '../services/token/service.ts';
import { loadConfig as loadGatewayConfig } from '../gateway/config.ts';
import { startGateway } from '../gateway/app.ts';
import { startWhoami } from '../services/whoami/app.ts';
import { startNotes } from '../services/notes/app.ts';
import { startWeb } from '../services/web/app.ts';
import { GATEWAY_JWKS_PATH } from '../contract/gateway-assertion.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const env = { ...process.env };
env.CLIENTS_FILE ??= path.join(here, '../services/token/clients.dev.json');
// Cookie sessions: the token service must redirect browsers back to this gateway, whatever port it is moved to.
env.GATEWAY_PUBLIC_URL ??= `http://localhost:${env.GATEWAY_PORT || '8080'}`;
env.SIGN_IN_SCOPES ??= 'openid profile notes:read notes:write';

const closers: Array<() => Promise<void>> = [];
const logger = createLogger({ name: 'start' });

/** A port someone else holds: said in one line, with the variable that moves it. */
class PortInUse extends Error {}

async function listening<T>(variable: string, portNumber: number, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (error) {
    const inUse = portInUseMessage(error, variable, portNumber);
    throw inUse ? new PortInUse(inUse) : error;
  }
}

async function main(): Promise<void> {
  const tokenConfig = loadTokenServiceConfig(env);
  const gatewayConfig = loadGatewayConfig({ ...env, TOKEN_ISSUER: env.TOKEN_ISSUER ?? tokenConfig.ISSUER });

  const demoPorts = parseEnv({ WHOAMI_PORT: port(4101), NOTES_PORT: port(4102), WEB_PORT: port(4103) }, env);
  // The demo apps take the caller from the gateway's signed assertion (fetching its keys on first use), not from X-Auth-* headers.
  const assertion = gatewayConfig.assertion
    ? {
        jwksUrl: `http://127.0.0.1:${gatewayConfig.port}${GATEWAY_JWKS_PATH}`,
        issuer: gatewayConfig.publicUrl ?? `http://localhost:${gatewayConfig.port}`,
      }
    : undefined;

  const token = await listening('TOKEN_PORT', tokenConfig.TOKEN_PORT, () =>
    startTokenService(tokenConfig, { logger: createLogger({ name: 'token-service', level: tokenConfig.LOG_LEVEL }) }),
  );
  closers.unshift(() => token.close());
  const whoami = await listening('WHOAMI_PORT', demoPorts.WHOAMI_PORT, () =>
    startWhoami({ port: demoPorts.WHOAMI_PORT, logger: createLogger({ name: 'whoami' }), ...(assertion ? { assertion } : {}) }),
  );
  closers.unshift(() => whoami.close());
  const notes = await listening('NOTES_PORT', demoPorts.NOTES_PORT, () =>
    startNotes({ port: demoPorts.NOTES_PORT, logger: createLogger({ name: 'notes' }), ...(assertion ? { assertion } : {}) }),
  );
  closers.unshift(() => notes.close());
  const web = await listening('WEB_PORT', demoPorts.WEB_PORT, () =>
    startWeb({ port: demoPorts.WEB_PORT, logger: createLogger({ name: 'web' }) }),
  );
  closers.unshift(() => web.close());
  const gateway = await listening('GATEWAY_PORT', gatewayConfig.port, () =>
    startGateway(gatewayConfig, {
      logger: createLogger({ name: 'gateway', level: gatewayConfig.logLevel }),
      // The routes' upstreams (gateway/routes.json): wherever each part really listens.
      env: {
        ...env,
        WHOAMI_URL: env.WHOAMI_URL ?? whoami.url,
        NOTES_URL: env.NOTES_URL ?? notes.url,
        WEB_URL: env.WEB_URL ?? web.url,
        TOKEN_SERVICE_URL: env.TOKEN_SERVICE_URL ?? token.url,
        TOKEN_ISSUER: env.TOKEN_ISSUER ?? tokenConfig.ISSUER,
      },
    }),
  );
  closers.unshift(() => gateway.close());

  const pastTheGateway = assertion
    ? `    curl -s ${whoami.url}/whoami -H 'x-auth-subject: alice'   # 401 past the gateway: the app wants its signed assertion\n`
    : '';
  const T = tokenConfig.ISSUER;
  const G = `http://localhost:${gateway.port}`;
  console.log(`
  Token service  ${T}   (database: ${token.service.db.kind}${token.service.db.kind === 'pglite' ? ` in ${tokenConfig.DATA_DIR}` : ''})
  Gateway        ${G}
  Demo apps      /whoami (${whoami.url}), /notes (${notes.url}) — reachable through the gateway
  Browser app    open ${G}/ in a browser (static files from ${web.url}; it signs in through the gateway)

  Try it:
    curl -s -X POST ${T}/auth/register -H 'content-type: application/json' \\
      -d '{"username":"alice","email":"alice@example.com","password":"correct horse battery"}'
    curl -s -X POST ${T}/auth/login -H 'content-type: application/json' \\
      -d '{"username":"alice","password":"correct horse battery"}' > /tmp/pair.json
    AT=$(node -p 'require("/tmp/pair.json").access_token')
    curl -s ${G}/whoami -H "authorization: Bearer $AT"
${pastTheGateway}    curl -s -X POST ${T}/auth/logout -H "authorization: Bearer $AT"
    curl -s ${G}/whoami -H "authorization: Bearer $AT"     # 401: logout took effect at the gateway

  Ctrl-C stops everything.
`);
}

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info({ signal }, 'stopping');
  for (const close of closers) await close().catch((error: unknown) => logger.error({ err: error }, 'close failed'));
  process.exit(0);
}
process.once('SIGINT', () => void stop('SIGINT'));
process.once('SIGTERM', () => void stop('SIGTERM'));

main().catch(async (error: unknown) => {
  console.error(error instanceof ConfigError || error instanceof PortInUse ? error.message : error);
  for (const close of closers) await close().catch(() => undefined);
  process.exit(1);
});

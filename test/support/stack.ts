// The whole product for end-to-end tests: real token service(s), real
// gateway(s) and the demo apps, over real HTTP on loopback.
import { createLogger } from '../../common/logger.ts';
import { GATEWAY_JWKS_PATH } from '../../contract/gateway-assertion.ts';
import type { Gateway } from '../../gateway/app.ts';
import type { GatewayConfig } from '../../gateway/config.ts';
import { startNotes, type RunningNotes } from '../../services/notes/app.ts';
import { startWhoami, type RunningApp } from '../../services/whoami/app.ts';
import type { TestDatabase } from './databases.ts';
import { freePort, startFaultProxy, type FaultProxy } from './fault-proxy.ts';
import { startTestGateway } from './gateway.ts';
import { GATEWAY_CLIENT, startTestTokenService, type TestTokenService } from './token-service.ts';

export interface Stack {
  token: TestTokenService;
  /** The TCP proxy the gateways reach the token service through (for feed faults). */
  issuerProxy: FaultProxy;
  issuer: string;
  gateway: Gateway;
  whoami: RunningApp;
  notes: RunningNotes;
  startGateway(overrides?: Partial<GatewayConfig>): Promise<Gateway>;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** The issuer string (default: the fault proxy's URL). Instances sharing a database share it. */
  issuer?: string;
  tokenEnv?: Record<string, string>;
  gateway?: Partial<GatewayConfig>;
  database?: TestDatabase;
  /** More variables for `${VAR}` in the gateway's routes (besides WHOAMI_URL, NOTES_URL, TOKEN_SERVICE_URL and TOKEN_ISSUER). */
  routesEnv?: Record<string, string>;
  /**
   * The demo apps verify the first gateway's X-Auth-Assertion (as with `npm start`) instead of
   * trusting X-Auth-* headers; that gateway then listens on a port chosen up front.
   */
  assertions?: boolean;
  /**
   * The first gateway signs browsers in (cookie sessions): it listens on a port chosen up front, its
   * URL is its `publicUrl` and the token service's GATEWAY_PUBLIC_URL (where the gateway client's
   * redirect URI points), and every gateway of the stack shares that public URL.
   */
  browserSignIn?: boolean;
}

const quiet = () => createLogger({ name: 'e2e', level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  // The issuer must be known before the token service starts: it is the URL
  // gateways discover metadata from, here a fault proxy in front of the service.
  const issuerPort = await freePort();
  const issuer = options.issuer ?? `http://127.0.0.1:${issuerPort}`;
  const gatewayPort = options.assertions || options.browserSignIn ? await freePort() : 0;
  const publicUrl = options.browserSignIn ? `http://127.0.0.1:${gatewayPort}` : undefined;
  const token = await startTestTokenService({
    env: { ISSUER: issuer, ...(publicUrl ? { GATEWAY_PUBLIC_URL: publicUrl } : {}), ...options.tokenEnv },
    ...(options.database ? { database: options.database } : {}),
  });
  const issuerProxy = await startFaultProxy({ host: '127.0.0.1', port: token.port }, issuerPort);
  const assertion = options.assertions
    ? { jwksUrl: `http://127.0.0.1:${gatewayPort}${GATEWAY_JWKS_PATH}`, issuer: `http://localhost:${gatewayPort}` }
    : undefined;
  const whoami = await startWhoami({ port: 0, logger: quiet(), ...(assertion ? { assertion } : {}) });
  const notes = await startNotes({ port: 0, logger: quiet(), ...(assertion ? { assertion } : {}) });
  const gateways: Gateway[] = [];

  const launch = async (overrides: Partial<GatewayConfig> = {}): Promise<Gateway> => {
    const gateway = await startTestGateway(
      { issuer, url: issuerProxy.url, client: GATEWAY_CLIENT },
      {
        feedReconnectMinMs: 50,
        feedReconnectMaxMs: 500,
        jwksRefetchCooldownMs: 100,
        ...(publicUrl ? { publicUrl } : {}),
        ...options.gateway,
        ...overrides,
      },
      {
        logger: quiet(),
        env: { WHOAMI_URL: whoami.url, NOTES_URL: notes.url, TOKEN_SERVICE_URL: token.url, TOKEN_ISSUER: issuer, ...options.routesEnv },
      },
    );
    gateways.push(gateway);
    return gateway;
  };
  const gateway = await launch(gatewayPort ? { port: gatewayPort } : {});

  return {
    token,
    issuerProxy,
    issuer,
    gateway,
    whoami,
    notes,
    startGateway: launch,
    async stop() {
      for (const g of gateways) await g.close();
      await whoami.close();
      await notes.close();
      await issuerProxy.close();
      await token.stop();
    },
  };
}

/** Polls until `check` passes or the bound runs out; the bound is a safety net, not a timing assertion. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, boundMs = 5000): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${boundMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

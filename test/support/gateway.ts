// A gateway in-process for tests, following a token service: the real one
// (support/token-service.ts) or the fake of test/gateway/helpers. Port 0 on
// loopback, quiet unless TEST_LOG_LEVEL says otherwise.
import { createLogger } from '../../common/logger.ts';
import { startGateway, type Gateway, type StartOptions } from '../../gateway/app.ts';
import type { GatewayConfig } from '../../gateway/config.ts';

export interface FollowedAuthority {
  /** The issuer the tokens carry. */
  issuer: string;
  /** Where the gateway reaches the token service, when not at the issuer URL. */
  url?: string | undefined;
  /** The gateway's confidential client (scope revocations:read) for the revocation feed. */
  client: { id: string; secret: string };
}

/** `config` and `options` override these defaults, as for startGateway. */
export function startTestGateway(
  authority: FollowedAuthority,
  config: Partial<GatewayConfig> = {},
  options: StartOptions = {},
): Promise<Gateway> {
  return startGateway(
    {
      port: 0,
      host: '127.0.0.1',
      issuer: authority.issuer,
      tokenServiceUrl: authority.url,
      clientId: authority.client.id,
      clientSecret: authority.client.secret,
      ...config,
    },
    { logger: createLogger({ name: 'gateway', level: process.env.TEST_LOG_LEVEL ?? 'silent' }), ...options },
  );
}

import type { Middleware } from 'koa';
import type { TokenService } from '../context.ts';
import { bearerSecretMatches } from '../../../common/secrets.ts';
import { pingDatabase } from '../models/database.ts';

/** GET /metrics: Prometheus text; behind METRICS_TOKEN when it is set. */
export function metricsEndpoint(service: TokenService): Middleware {
  return async (ctx) => {
    const required = service.config.METRICS_TOKEN;
    if (required) {
      if (!bearerSecretMatches(ctx.get('authorization'), required)) {
        ctx.status = 401;
        ctx.set('WWW-Authenticate', 'Bearer realm="metrics"');
        ctx.body = { error: 'unauthorized', message: 'metrics require METRICS_TOKEN' };
        return;
      }
    }
    ctx.type = service.metrics.registry.contentType;
    ctx.body = await service.metrics.registry.metrics();
  };
}

/** GET /healthz: the process is up. */
export const healthEndpoint: Middleware = (ctx) => {
  ctx.body = { status: 'ok' };
};

/** GET /readyz: the database answers within a bound. */
export function readinessEndpoint(service: TokenService): Middleware {
  return async (ctx) => {
    try {
      await pingDatabase(service.knex, 2000);
      ctx.body = { status: 'ready', database: 'ok' };
    } catch {
      ctx.status = 503;
      ctx.set('Retry-After', '5');
      ctx.body = { status: 'unavailable', database: 'unreachable' };
    }
  };
}

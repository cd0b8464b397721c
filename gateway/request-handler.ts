// Plain HTTP requests. The request target and its framing are checked first and
// the gateway's own endpoints (health.ts) answered; every other request is
// admitted (pipeline/admission.ts), then forwarded (pipeline/proxy.ts) or
// refused. Each request gets one access-log line and one count when its
// response closes.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../common/logger.ts';
import type { OwnEndpoint } from './health.ts';
import type { GatewayMetrics } from './metrics.ts';
import { admit, type Admission, type AdmissionDependencies, type Refusal } from './pipeline/admission.ts';
import { isNavigation } from './sessions/auth-endpoints.ts';
import { requestFraming, type RequestFraming } from './pipeline/framing.ts';
import { parseRequestTarget } from './pipeline/match-route.ts';
import { requestIdFor } from './pipeline/mutate-headers.ts';
import type { UpstreamProxy } from './pipeline/proxy.ts';
import { reject, sendRejection } from './pipeline/rejection.ts';

export interface RequestHandlerDependencies {
  admission: AdmissionDependencies;
  proxy: Pick<UpstreamProxy, 'forward'>;
  /** The gateway's own endpoints by path (health.ts). */
  ownEndpoints: ReadonlyMap<string, OwnEndpoint>;
  metrics: GatewayMetrics;
  /** One line per request, with the fixed fields written here (never a header, body or query). */
  accessLog: Logger;
  logger: Logger;
  /** Cookie sessions' own endpoints (sessions/auth-endpoints.ts) under their prefix, when configured. */
  auth?: { prefix: string; handle(req: IncomingMessage, res: ServerResponse, path: string, query: string): Promise<void> } | undefined;
}

/** What the access log says of a request besides its method, path, status and latency. */
interface AccessEntry {
  route?: string | undefined;
  subject?: string | undefined;
  auth?: string | undefined;
}

export function createRequestHandler(deps: RequestHandlerDependencies): (req: IncomingMessage, res: ServerResponse) => void {
  const { admission, proxy, ownEndpoints, metrics, accessLog, logger, auth } = deps;

  function handle(req: IncomingMessage, res: ServerResponse): void {
    try {
      const started = performance.now();
      const requestId = requestIdFor(req.headers['x-request-id']);
      res.setHeader('x-request-id', requestId);
      const entry: AccessEntry = {};
      const target = parseRequestTarget(req.url);
      res.once('close', () => {
        accessLog.info({
          requestId,
          method: req.method,
          path: target?.path, // never the query: it could carry a token
          route: entry.route,
          status: res.headersSent ? res.statusCode : 499,
          latencyMs: Math.round((performance.now() - started) * 1000) / 1000,
          subject: entry.subject,
          auth: entry.auth,
        });
        metrics.requests.inc({ route: entry.route ?? 'none', status: res.headersSent ? res.statusCode : 499 });
      });

      if (!target) return sendRejection(res, reject(400, 'invalid_request', 'unsupported request target'));
      // Checked before anything else: a body the gateway cannot forward exactly as received is never forwarded.
      const framing = requestFraming(req.headers);
      if (framing.kind === 'unsupported')
        return sendRejection(res, reject(400, 'invalid_request', framing.reason), { connection: 'close' });
      const own = ownEndpoints.get(target.path);
      if (own) return void Promise.resolve(own(req, res)).catch((error: unknown) => failed(res, error));
      if (auth && (target.path === auth.prefix || target.path.startsWith(`${auth.prefix}/`))) {
        entry.route = 'auth';
        const query = req.url?.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '';
        return void auth.handle(req, res, target.path, query).catch((error: unknown) => failed(res, error));
      }
      const decision = admit(admission, req, target, requestId, false, entry);
      // A cached token is decided at once; the request goes upstream in this same tick.
      if (decision instanceof Promise) {
        decision.then((settled) => act(req, res, settled, entry, framing)).catch((error: unknown) => failed(res, error));
      } else {
        act(req, res, decision, entry, framing);
      }
    } catch (error) {
      failed(res, error);
    }
  }

  function act(req: IncomingMessage, res: ServerResponse, decision: Admission, entry: AccessEntry, framing: RequestFraming): void {
    recordAuthOutcome(metrics, entry, decision);
    if (decision.kind === 'reject') return refuse(req, res, decision);
    entry.subject = decision.claims?.sub;
    proxy.forward(req, res, decision, framing);
  }

  /**
   * A refusal. A cookie session that has ended is cleared; a browser navigation to a page that
   * takes cookie sessions is sent to sign in (again) rather than shown a 401.
   */
  function refuse(req: IncomingMessage, res: ServerResponse, decision: Refusal): void {
    const extra: Record<string, string> = {};
    const sessions = admission.sessions?.sessions;
    if (decision.sessionEnded && sessions) extra['set-cookie'] = sessions.clearCookie();
    const { route } = decision;
    const toSignIn =
      auth !== undefined &&
      route !== undefined &&
      route.acceptsCookie &&
      decision.rejection.status === 401 &&
      (decision.sessionEnded || route.signIn) &&
      isNavigation(req);
    if (!toSignIn) return sendRejection(res, decision.rejection, extra);
    res.writeHead(302, {
      ...extra,
      location: `${auth.prefix}/login?return_to=${encodeURIComponent(req.url ?? '/')}`,
      'cache-control': 'no-store',
    });
    res.end();
  }

  function failed(res: ServerResponse, error: unknown): void {
    logger.error({ err: error }, 'request handling failed');
    sendRejection(res, reject(500, 'server_error', 'internal error'));
  }

  return handle;
}

/** Counts the policy's decision and notes it for the access log (a request no route took has none). */
function recordAuthOutcome(metrics: GatewayMetrics, entry: AccessEntry, decision: Admission): void {
  const { route } = decision;
  if (route === undefined) return;
  if (route.auth === 'none') {
    entry.auth = 'public';
    return;
  }
  const outcome = decision.kind === 'forward' ? (decision.claims ? 'authenticated' : 'anonymous') : decision.rejection.error;
  const reason = decision.kind === 'forward' ? '' : decision.rejection.description;
  entry.auth = reason ? `${outcome}: ${reason}` : outcome;
  metrics.authOutcomes.inc({ outcome, reason });
}

// Delivers the back-channel logout outbox (models/logout-deliveries.ts): for
// each due row, a freshly signed logout token POSTed to the client's
// backchannel_logout_uri (OIDC Back-Channel Logout 1.0 §2.5). Wakes on the
// outbox's NOTIFY (sent when a revoking transaction commits), when the next
// retry falls due, and every POLL_INTERVAL_MS in case a notification was lost.
// Every instance runs one; the claim's SKIP LOCKED and lease keep them from
// sending the same row at once. Rows are durable, so a restart resumes.
import type { Database } from '../../db/connection.ts';
import type { Logger } from '../../common/logger.ts';
import type { TokenServiceConfig } from './config.ts';
import type { AccessTokenKeys } from './helpers/access-tokens.ts';
import { logoutTokenClaims, signLogoutToken } from './helpers/logout-tokens.ts';
import {
  claimDueDeliveries,
  LOGOUT_DELIVERIES_CHANNEL,
  markDelivered,
  markFailed,
  msUntilNextDue,
  type ClaimedDelivery,
} from './models/logout-deliveries.ts';

// Logout tokens are consumed at once; a short life limits a replay.
const LOGOUT_TOKEN_LIFETIME_MS = 120_000;
// Rows sent at once by one instance (also the claim's batch): bounds sockets and memory.
const CONCURRENCY = 8;
const POLL_INTERVAL_MS = 30_000;

export type BackchannelLogoutSettings = Pick<
  TokenServiceConfig,
  | 'ISSUER'
  | 'BACKCHANNEL_LOGOUT_TIMEOUT'
  | 'BACKCHANNEL_LOGOUT_MAX_ATTEMPTS'
  | 'BACKCHANNEL_LOGOUT_RETRY_MIN'
  | 'BACKCHANNEL_LOGOUT_RETRY_MAX'
>;

/** Exponential backoff with full jitter in its upper half: after the n-th failure, about min·2^(n-1), capped. */
export function retryDelayMs(failures: number, settings: { minMs: number; maxMs: number }, random = Math.random): number {
  const ceiling = Math.min(settings.maxMs, settings.minMs * 2 ** Math.min(Math.max(failures - 1, 0), 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export class BackchannelLogoutDeliverer {
  private unlisten: (() => Promise<void>) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private wakeAgain = false;
  private stopped = false;
  private failing = false;
  private readonly inFlight = new AbortController();

  constructor(
    private readonly db: Database,
    private readonly keys: Pick<AccessTokenKeys, 'signer'>,
    private readonly settings: BackchannelLogoutSettings,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  async start(): Promise<void> {
    this.unlisten = await this.db.listen(LOGOUT_DELIVERIES_CHANNEL, () => this.wake());
    // Rows left by a stopped (or crashed) instance are due now or later.
    this.wake();
  }

  /** Runs a delivery pass now, or right after the one in progress. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.wakeAgain = true;
      return;
    }
    clearTimeout(this.timer);
    this.running = this.deliverDue().finally(() => {
      this.running = undefined;
      if (this.wakeAgain) {
        this.wakeAgain = false;
        this.wake();
      }
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    // Sends in flight are cut short and recorded as failed attempts, due again at once.
    this.inFlight.abort();
    await this.unlisten?.();
    this.unlisten = undefined;
    await this.running;
  }

  private async deliverDue(): Promise<void> {
    let nextInMs: number | undefined;
    try {
      for (;;) {
        const leaseMs = this.settings.BACKCHANNEL_LOGOUT_TIMEOUT * 2 + 5_000;
        const batch = await claimDueDeliveries(this.db.knex, CONCURRENCY, leaseMs);
        await Promise.all(batch.map((delivery) => this.attempt(delivery)));
        if (batch.length < CONCURRENCY || this.stopped) break;
      }
      nextInMs = await msUntilNextDue(this.db.knex);
      if (this.failing) this.logger.info('back-channel logout outbox readable again');
      this.failing = false;
    } catch (error) {
      if (!this.failing) this.logger.warn({ err: error }, 'delivering back-channel logouts failed; retrying');
      this.failing = true;
      nextInMs = Math.min(POLL_INTERVAL_MS, this.settings.BACKCHANNEL_LOGOUT_RETRY_MIN);
    }
    if (this.stopped) return;
    this.timer = setTimeout(() => this.wake(), Math.min(nextInMs ?? POLL_INTERVAL_MS, POLL_INTERVAL_MS));
    this.timer.unref();
  }

  private async attempt(delivery: ClaimedDelivery): Promise<void> {
    const problem = await this.send(delivery);
    if (problem === undefined) {
      await markDelivered(this.db.knex, delivery.id);
      return;
    }
    // A send cut short by stop() is due again at once (another instance may take it), and never abandoned for it.
    const interrupted = this.stopped;
    const abandon = !interrupted && delivery.attempts >= this.settings.BACKCHANNEL_LOGOUT_MAX_ATTEMPTS;
    const retryInMs = interrupted
      ? 0
      : retryDelayMs(delivery.attempts, {
          minMs: this.settings.BACKCHANNEL_LOGOUT_RETRY_MIN,
          maxMs: this.settings.BACKCHANNEL_LOGOUT_RETRY_MAX,
        });
    await markFailed(this.db.knex, delivery.id, { error: problem, retryInMs, abandon });
    const where = { delivery: delivery.id, clientId: delivery.client_id, uri: delivery.uri, attempts: delivery.attempts, error: problem };
    if (abandon) this.logger.warn(where, 'back-channel logout abandoned after the last attempt');
    else this.logger.debug({ ...where, retryInMs }, 'back-channel logout failed; will retry');
  }

  /** One POST (§2.5); undefined when the client acknowledged it (any 2xx), else why not (never the token). */
  private async send(delivery: ClaimedDelivery): Promise<string | undefined> {
    try {
      const claims = logoutTokenClaims(
        { issuer: this.settings.ISSUER, lifetimeMs: LOGOUT_TOKEN_LIFETIME_MS, now: this.now() },
        { clientId: delivery.client_id, sub: delivery.user_id, sid: delivery.sid },
      );
      const token = await signLogoutToken(this.keys, claims);
      const response = await fetch(delivery.uri, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ logout_token: token }).toString(),
        // A redirect is not an acknowledgement, and following one would send the token elsewhere.
        redirect: 'manual',
        signal: AbortSignal.any([this.inFlight.signal, AbortSignal.timeout(this.settings.BACKCHANNEL_LOGOUT_TIMEOUT)]),
      });
      await response.body?.cancel().catch(() => undefined);
      return response.status >= 200 && response.status < 300 ? undefined : `HTTP ${response.status}`;
    } catch (error) {
      const name = (error as Error).name;
      if (name === 'TimeoutError') return `no answer within ${this.settings.BACKCHANNEL_LOGOUT_TIMEOUT} ms`;
      if (name === 'AbortError') return 'interrupted: the service stopped';
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      return cause?.code ?? cause?.message ?? (error as Error).message;
    }
  }
}

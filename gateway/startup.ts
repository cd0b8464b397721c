// Start-up. The gateway listens at once (so /healthz answers) and becomes ready
// once it has found the token service: RFC 8414 discovery, then the JWKS, then
// the revocation catch-up. Until then it retries with backoff, for as long as it
// runs; a caller that must not proceed before (tests, npm start) waits a bounded
// time for it.
import type { Logger } from '../common/logger.ts';
import { discoverIssuer, type IssuerMetadata } from './keys/discovery.ts';
import type { KeyStore } from './keys/key-store.ts';
import { backoffDelay, sleep, type BackoffOptions } from './lib/backoff.ts';
import type { RevocationFeedClient } from './revocations/feed-client.ts';

export interface BootstrapOptions {
  issuer: string;
  /** Where the token service is reached, when not at the issuer URL. */
  tokenServiceUrl: string | undefined;
  keys: Pick<KeyStore, 'start' | 'kids'>;
  feed: Pick<RevocationFeedClient, 'start' | 'cursor'>;
  /** Delays between attempts. */
  retry: BackoffOptions;
  logger: Logger;
  /** The gateway's own URL, for the log line that says it is ready. */
  url: string;
  /** Aborted by close(): no more attempts. */
  signal: AbortSignal;
  /** Told the issuer's endpoints once discovered (cookie sessions sign in through them). */
  onDiscovered?: (metadata: IssuerMetadata) => void;
}

/** Discovery → keys → denylist, retried until it works or `signal` aborts. */
export async function bootstrap(options: BootstrapOptions): Promise<void> {
  const { issuer, keys, feed, logger, signal } = options;
  for (let attempt = 0; !signal.aborted; attempt += 1) {
    try {
      const metadata = await discoverIssuer(issuer, { signal, serviceUrl: options.tokenServiceUrl });
      options.onDiscovered?.(metadata);
      await keys.start(metadata.jwksUri);
      await feed.start({ feedUrl: metadata.revocationFeedEndpoint, streamUrl: metadata.revocationStreamEndpoint });
      if (!signal.aborted) logger.info({ url: options.url, kids: keys.kids, cursor: feed.cursor }, 'gateway ready');
      return;
    } catch (error) {
      if (signal.aborted) return;
      logger.warn({ issuer, err: (error as Error).message }, 'token service not reachable yet; retrying');
      await sleep(backoffDelay(attempt, options.retry), signal);
    }
  }
}

export interface ReadyWait {
  /** Resolves when bootstrap has ended (ready, or closed). */
  ready: Promise<void>;
  /** Keys loaded and denylist synced. */
  isReady(): boolean;
  feed: Pick<RevocationFeedClient, 'whenLive'>;
  /** Give up after this long. */
  timeoutMs: number;
  /** Then wait up to this long for the live revocation stream (0 skips); only a warning if it is not. */
  liveTimeoutMs: number;
  logger: Logger;
}

/** Waits for readiness; false when the gateway is not ready within the time allowed. */
export async function waitUntilReady(wait: ReadyWait): Promise<boolean> {
  const timedOut = new AbortController();
  const outcome = await Promise.race([
    wait.ready.then(() => 'ready' as const),
    sleep(wait.timeoutMs, timedOut.signal).then(() => 'timeout' as const),
  ]);
  timedOut.abort();
  if (outcome === 'timeout' || !wait.isReady()) return false;
  if (wait.liveTimeoutMs > 0) {
    await wait.feed
      .whenLive(wait.liveTimeoutMs)
      .catch((error: Error) => wait.logger.warn({ err: error.message }, 'revocation stream not live yet'));
  }
  return true;
}

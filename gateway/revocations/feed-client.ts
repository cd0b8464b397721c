// Keeps the denylist in step with the token service's revocation log:
//   1. catch-up: page through GET /revocations?after=cursor until has_more is false;
//   2. live: GET /revocations/stream with Last-Event-ID = cursor, apply each event;
//   3. on any break (error, server close, 45 s of silence): back off, then 1 again.
// Entries are idempotent, so the overlaps between catch-up, replay and live are
// harmless; skipping the catch-up would not be.
import { EventEmitter } from 'node:events';
import type { EventSourceMessage } from 'eventsource-parser';
import type { Logger } from '../../common/logger.ts';
import { backoffDelay, sleep } from '../lib/backoff.ts';
import { basicAuthorization, fetchJson } from '../lib/fetch-json.ts';
import type { Denylist } from './denylist.ts';
import { catchUpPageSchema, revocationEntrySchema, type RevocationEntry } from '../../contract/revocations.ts';
import { toRevocation } from './entry.ts';
import { openEventStream } from './event-stream.ts';

export interface FeedEndpoints {
  /** Catch-up endpoint (the metadata's revocation_feed_endpoint). */
  feedUrl: string;
  /** SSE endpoint (the metadata's revocation_stream_endpoint). */
  streamUrl: string;
}

export interface FeedClientOptions {
  clientId: string;
  clientSecret: string;
  denylist: Denylist;
  logger: Logger;
  idleTimeoutMs: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  pageSize?: number;
  now?: () => number;
}

/** starting: never synced yet · live: stream up, replay done · down: synced before, stream not up now. */
export type FeedState = 'starting' | 'live' | 'down';

export interface FeedStatus {
  state: FeedState;
  /** The initial full catch-up has completed. */
  synced: boolean;
  /** The live stream is connected and has finished its replay. */
  live: boolean;
  cursor: number;
  /** Time since the denylist was last known to be complete (0 while live). */
  stalenessMs: number;
  connects: number;
  lastError: string | undefined;
}

export class RevocationFeedClient extends EventEmitter<{ live: []; down: [Error | string]; synced: [] }> {
  #cursor = 0;
  #synced = false;
  #live = false;
  #lastFreshAt: number | undefined;
  #connects = 0;
  #lastError: string | undefined;
  #serverRetryMs = 0;
  #running: Promise<void> | undefined;
  #endpoints: FeedEndpoints | undefined;
  readonly #abort = new AbortController();
  readonly #options: FeedClientOptions;
  readonly #now: () => number;
  readonly #authorization: string;

  constructor(options: FeedClientOptions) {
    super();
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#authorization = basicAuthorization(options.clientId, options.clientSecret);
  }

  get cursor(): number {
    return this.#cursor;
  }

  /** The initial full catch-up has completed (cheap: read on every request). */
  get synced(): boolean {
    return this.#synced;
  }

  status(): FeedStatus {
    return {
      state: this.#live ? 'live' : this.#synced ? 'down' : 'starting',
      synced: this.#synced,
      live: this.#live,
      cursor: this.#cursor,
      stalenessMs: this.stalenessMs(),
      connects: this.#connects,
      lastError: this.#lastError,
    };
  }

  /** 0 while live; otherwise how long since the denylist was last known complete (Infinity before the first sync). */
  stalenessMs(): number {
    if (this.#live) return 0;
    if (this.#lastFreshAt === undefined) return Number.POSITIVE_INFINITY;
    return Math.max(0, this.#now() - this.#lastFreshAt);
  }

  /** Starts the loop; resolves once the initial catch-up has completed (retrying until it does or close()). */
  start(endpoints: FeedEndpoints): Promise<void> {
    this.#endpoints ??= endpoints;
    const synced = new Promise<void>((resolve) => {
      if (this.#synced) return resolve();
      this.once('synced', resolve);
      this.#abort.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    this.#running ??= this.#run();
    return synced;
  }

  /** Resolves when the live stream is up (replay done), or rejects after timeoutMs. */
  whenLive(timeoutMs = 5000): Promise<void> {
    if (this.#live) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('live', onLive);
        reject(new Error(`revocation stream not live within ${timeoutMs} ms`));
      }, timeoutMs);
      const onLive = () => {
        clearTimeout(timer);
        resolve();
      };
      this.once('live', onLive);
    });
  }

  async close(): Promise<void> {
    this.#abort.abort();
    await this.#running;
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    const { streamUrl } = this.#endpoints as FeedEndpoints;
    let attempt = 0;
    while (!signal.aborted) {
      try {
        await this.#catchUp(signal);
        if (signal.aborted) break;
        const end = await openEventStream({
          url: streamUrl,
          headers: { authorization: this.#authorization, 'last-event-id': String(this.#cursor) },
          idleTimeoutMs: this.#options.idleTimeoutMs,
          signal,
          onOpen: () => (this.#connects += 1),
          onEvent: (event) => {
            if (this.#onStreamEvent(event)) attempt = 0;
          },
          onRetry: (ms) => (this.#serverRetryMs = ms),
        });
        this.#markDown(end === 'idle' ? `no data for ${this.#options.idleTimeoutMs} ms` : `stream ${end}`);
      } catch (error) {
        this.#markDown(error as Error);
      }
      if (signal.aborted) break;
      const delay = Math.max(
        this.#serverRetryMs,
        backoffDelay(attempt, { minMs: this.#options.reconnectMinMs, maxMs: this.#options.reconnectMaxMs }),
      );
      attempt += 1;
      await sleep(Math.min(delay, this.#options.reconnectMaxMs), signal);
    }
    this.#live = false;
  }

  async #catchUp(signal: AbortSignal): Promise<void> {
    const limit = this.#options.pageSize ?? 5000;
    for (;;) {
      const url = new URL((this.#endpoints as FeedEndpoints).feedUrl);
      url.searchParams.set('after', String(this.#cursor));
      url.searchParams.set('limit', String(limit));
      const { body } = await fetchJson(url.href, { headers: { authorization: this.#authorization }, signal });
      const page = catchUpPageSchema.parse(body);
      for (const entry of page.revocations) this.#apply(entry);
      const advanced = page.cursor > this.#cursor;
      this.#cursor = Math.max(this.#cursor, page.cursor);
      if (!page.has_more || !advanced) break;
    }
    this.#lastFreshAt = this.#now();
    if (!this.#synced) {
      this.#synced = true;
      this.#options.logger.info({ cursor: this.#cursor, denylist: this.#options.denylist.size }, 'revocations synced');
      this.emit('synced');
    }
  }

  /** Returns true when the event shows the stream is healthy (used to reset the backoff). */
  #onStreamEvent(event: EventSourceMessage): boolean {
    if (event.event === 'revocation') {
      const entry = revocationEntrySchema.parse(JSON.parse(event.data));
      this.#apply(entry);
      this.#cursor = Math.max(this.#cursor, entry.id);
      return false;
    }
    if (event.event === 'ready') {
      const cursor = (JSON.parse(event.data) as { cursor?: unknown }).cursor;
      if (typeof cursor === 'number' && Number.isInteger(cursor)) this.#cursor = Math.max(this.#cursor, cursor);
      if (!this.#live) {
        this.#live = true;
        this.#lastError = undefined;
        this.#options.logger.info({ cursor: this.#cursor }, 'revocation stream live');
        this.emit('live');
      }
      return true;
    }
    return false;
  }

  #apply(entry: RevocationEntry): void {
    if (this.#options.denylist.apply(toRevocation(entry))) {
      this.#options.logger.debug({ id: entry.id, kind: entry.kind }, 'revocation applied');
    }
  }

  #markDown(reason: Error | string): void {
    if (this.#abort.signal.aborted) return;
    if (this.#live) this.#lastFreshAt = this.#now();
    this.#live = false;
    this.#lastError = typeof reason === 'string' ? reason : reason.message;
    this.#options.logger.warn({ reason: this.#lastError, cursor: this.#cursor }, 'revocation feed interrupted; reconnecting');
    this.emit('down', reason);
  }
}

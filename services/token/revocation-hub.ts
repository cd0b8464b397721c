// Relays committed revocations to this instance's stream clients. Every
// instance LISTENs, so a revocation made through any instance reaches every
// gateway connected to any instance.
//
// NOTIFY is not durable: one sent while this instance's LISTEN connection is
// down (a database blip, a network cut) is never delivered to it, and the
// gateways streaming from this instance would never hear of that revocation.
// So the hub also reads the log itself every few seconds, from a cursor, and
// relays whatever the notifications missed. Ids commit in order (see
// models/revocations.ts), so the cursor never skips an entry.
import type { Database } from '../../db/connection.ts';
import type { Logger } from '../../common/logger.ts';
import { latestRevocationId, listRevocations, REVOCATION_CHANNEL, type RevocationEntry } from './models/revocations.ts';

export type RevocationListener = (entry: RevocationEntry) => void;

export const REVOCATION_POLL_INTERVAL_MS = 2000;

export class RevocationHub {
  private readonly listeners = new Set<RevocationListener>();
  private unlisten: (() => Promise<void>) | undefined;
  /** Highest id the catch-up read has seen; everything up to it has been relayed. */
  private cursor = 0;
  /** Ids relayed from notifications ahead of the cursor (so the catch-up does not repeat them). */
  private readonly relayedAhead = new Set<number>();
  private pollTimer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private pollFailing = false;

  constructor(
    private readonly db: Database,
    private readonly logger: Logger,
    private readonly pollIntervalMs = REVOCATION_POLL_INTERVAL_MS,
  ) {}

  async start(): Promise<void> {
    // Streams replay older entries themselves; the hub relays what commits from now on.
    // Read the end of the log before LISTEN starts: whatever commits in between is caught up.
    this.cursor = await latestRevocationId(this.db.knex);
    this.unlisten = await this.db.listen(REVOCATION_CHANNEL, (payload) => {
      let entry: RevocationEntry;
      try {
        entry = JSON.parse(payload) as RevocationEntry;
      } catch {
        this.logger.error('ignoring a malformed revocation notification');
        return;
      }
      if (entry.id <= this.cursor || this.relayedAhead.has(entry.id)) return;
      this.relayedAhead.add(entry.id);
      this.relay(entry);
    });
    if (this.pollIntervalMs > 0) {
      this.pollTimer = setInterval(() => void this.catchUp(), this.pollIntervalMs);
      this.pollTimer.unref();
    }
  }

  /** Relays committed entries that no notification brought (normally none). */
  catchUp(): Promise<void> {
    this.polling ??= (async () => {
      try {
        for (let hasMore = true; hasMore;) {
          const page = await listRevocations(this.db.knex, this.cursor, 1000);
          for (const entry of page.entries) {
            if (!this.relayedAhead.delete(entry.id)) {
              this.logger.info({ id: entry.id, kind: entry.kind }, 'relaying a revocation whose notification was missed');
              this.relay(entry);
            }
            this.cursor = Math.max(this.cursor, entry.id);
          }
          hasMore = page.hasMore;
        }
        // Entries the read skipped (already expired) need no remembering either.
        for (const id of this.relayedAhead) if (id <= this.cursor) this.relayedAhead.delete(id);
        if (this.pollFailing) this.logger.info('revocation log readable again');
        this.pollFailing = false;
      } catch (error) {
        if (!this.pollFailing) this.logger.warn({ err: error }, 'reading the revocation log failed; retrying');
        this.pollFailing = true;
      }
    })().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  private relay(entry: RevocationEntry): void {
    for (const listener of this.listeners) listener(entry);
  }

  subscribe(listener: RevocationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }

  async stop(): Promise<void> {
    clearInterval(this.pollTimer);
    this.listeners.clear();
    await this.unlisten?.();
    this.unlisten = undefined;
    await this.polling;
  }
}

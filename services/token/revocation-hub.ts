// Relays committed revocations to this instance's stream clients. Every
// instance LISTENs, so a revocation made through any instance reaches every
// gateway connected to any instance.
import type { Database } from '../../db/connection.ts';
import type { Logger } from '../../common/logger.ts';
import { REVOCATION_CHANNEL, type RevocationEntry } from './models/revocations.ts';

export type RevocationListener = (entry: RevocationEntry) => void;

export class RevocationHub {
  private readonly listeners = new Set<RevocationListener>();
  private unlisten: (() => Promise<void>) | undefined;

  constructor(
    private readonly db: Database,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    this.unlisten = await this.db.listen(REVOCATION_CHANNEL, (payload) => {
      let entry: RevocationEntry;
      try {
        entry = JSON.parse(payload) as RevocationEntry;
      } catch {
        this.logger.error('ignoring a malformed revocation notification');
        return;
      }
      for (const listener of this.listeners) listener(entry);
    });
  }

  subscribe(listener: RevocationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }

  async stop(): Promise<void> {
    this.listeners.clear();
    await this.unlisten?.();
    this.unlisten = undefined;
  }
}

// The revocation log for gateways (docs/WIRE-CONTRACT.md): a paged catch-up
// endpoint and a Server-Sent Events stream, for confidential clients with the
// scope revocations:read.
import { PassThrough } from 'node:stream';
import type { Middleware } from 'koa';
import type { TokenService } from '../context.ts';
import { authenticateConfidentialClient } from '../auth/client-auth.ts';
import { latestRevocationId, listRevocations, type RevocationEntry } from '../models/revocations.ts';
import { parseParams } from '../schemas/parameters.ts';
import { REVOCATION_PAGE_MAX as MAX_PAGE, revocationPageQuery, revocationStreamParams } from '../schemas/revocations.ts';

export const FEED_SCOPE = 'revocations:read';
const KEEP_ALIVE_MS = 15_000;

export function revocationCatchUpEndpoint(service: TokenService): Middleware {
  return async (ctx) => {
    await authenticateConfidentialClient(ctx, service.clients, {}, FEED_SCOPE);
    const { after, limit } = parseParams(revocationPageQuery, ctx.query);
    const { entries, hasMore } = await listRevocations(service.knex, after, limit);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      revocations: entries,
      cursor: entries.reduce((max, entry) => Math.max(max, entry.id), after),
      has_more: hasMore,
    };
  };
}

/** Open streams, so that shutdown can end them. */
export class RevocationStreams {
  private readonly open = new Set<PassThrough>();

  add(stream: PassThrough): void {
    this.open.add(stream);
    stream.on('close', () => this.open.delete(stream));
  }

  get size(): number {
    return this.open.size;
  }

  closeAll(): void {
    for (const stream of this.open) stream.end();
  }
}

export function revocationStreamEndpoint(service: TokenService, streams: RevocationStreams): Middleware {
  return async (ctx) => {
    await authenticateConfidentialClient(ctx, service.clients, {}, FEED_SCOPE);
    const { 'Last-Event-ID': replayFrom } = parseParams(revocationStreamParams, {
      'Last-Event-ID': ctx.get('last-event-id') || ctx.query.after,
    });

    const stream = new PassThrough();
    const send = (entry: RevocationEntry): void => {
      stream.write(`id: ${entry.id}\nevent: revocation\ndata: ${JSON.stringify(entry)}\n\n`);
    };

    // Subscribe before reading the log, so nothing committed in between is
    // lost; entries seen during the replay are buffered and de-duplicated.
    const sent = new Set<number>();
    let buffered: RevocationEntry[] | undefined = [];
    const unsubscribe = service.revocations.subscribe((entry) => {
      if (buffered) buffered.push(entry);
      else if (!sent.has(entry.id)) send(entry);
    });
    const keepAlive = setInterval(() => stream.write(': keep-alive\n\n'), KEEP_ALIVE_MS);
    keepAlive.unref();
    stream.on('close', () => {
      clearInterval(keepAlive);
      unsubscribe();
    });
    ctx.req.on('close', () => stream.end());
    streams.add(stream);

    ctx.req.socket.setTimeout(0);
    ctx.req.socket.setNoDelay(true);
    ctx.set({ 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' });
    ctx.status = 200;
    ctx.body = stream;
    stream.write('retry: 1000\n\n');

    let cursor = replayFrom ?? 0;
    if (replayFrom !== undefined) {
      for (let hasMore = true; hasMore;) {
        const page = await listRevocations(service.knex, cursor, MAX_PAGE);
        for (const entry of page.entries) {
          if (!sent.has(entry.id)) {
            sent.add(entry.id);
            send(entry);
          }
          cursor = Math.max(cursor, entry.id);
        }
        hasMore = page.hasMore;
      }
    } else {
      cursor = await latestRevocationId(service.knex);
    }
    for (const entry of buffered) {
      if (!sent.has(entry.id)) {
        sent.add(entry.id);
        send(entry);
        cursor = Math.max(cursor, entry.id);
      }
    }
    buffered = undefined;
    sent.clear();
    stream.write(`event: ready\ndata: ${JSON.stringify({ cursor })}\n\n`);
  };
}

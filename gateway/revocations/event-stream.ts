// One Server-Sent Events connection over node:http(s). It resolves when the
// stream ends for whatever reason (server closed it, nothing heard for the idle
// timeout, caller aborted) and rejects when it could not be opened or went bad;
// the caller decides about reconnecting. Events are parsed by
// eventsource-parser, which follows the WHATWG event-stream interpretation.
import http from 'node:http';
import https from 'node:https';
import { createParser, type EventSourceMessage } from 'eventsource-parser';

export interface EventStreamOptions {
  url: string;
  headers?: Record<string, string>;
  /** Silence (not even a comment) for this long means the connection is dead. */
  idleTimeoutMs: number;
  signal?: AbortSignal;
  onOpen?(): void;
  onEvent(event: EventSourceMessage): void;
  onRetry?(ms: number): void;
}

/**
 * Most characters an unfinished line and event may hold together. An entry is a few
 * hundred; a stream that never ends a line or an event is cut off (and reconnected)
 * instead of growing the gateway's memory.
 */
export const MAX_PENDING_EVENT_CHARS = 2 ** 20;

/**
 * Turns the stream's bytes into events: decoded as UTF-8 (a leading BOM dropped, a
 * character split across chunks joined), then parsed. Unknown fields, comments and
 * a `retry` that is not a number are ignored. Throws when more than
 * MAX_PENDING_EVENT_CHARS are pending, and when a handler throws.
 */
export function createEventDecoder(handlers: Pick<EventStreamOptions, 'onEvent' | 'onRetry'>): (bytes: Buffer) => void {
  const decoder = new TextDecoder();
  let overflow: Error | undefined;
  const parser = createParser({
    onEvent: handlers.onEvent,
    onRetry: handlers.onRetry,
    maxBufferSize: MAX_PENDING_EVENT_CHARS,
    onError: (error) => {
      if (error.type === 'max-buffer-size-exceeded') overflow = error;
    },
  });
  return (bytes) => {
    parser.feed(decoder.decode(bytes, { stream: true }));
    if (overflow) throw overflow;
  };
}

export type StreamEnd = 'ended' | 'idle' | 'aborted';

export function openEventStream(options: EventStreamOptions): Promise<StreamEnd> {
  return new Promise((resolve, reject) => {
    const url = new URL(options.url);
    const transport = url.protocol === 'https:' ? https : http;
    let settled = false;
    let idleTimer: NodeJS.Timeout | undefined;
    const finish = (outcome: StreamEnd | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(idleTimer);
      options.signal?.removeEventListener('abort', onAbort);
      request.destroy();
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const armIdleTimer = () => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => finish('idle'), options.idleTimeoutMs);
    };
    const onAbort = () => finish('aborted');

    const request = transport.get(url, {
      agent: false, // a long-lived stream gets its own connection
      headers: { accept: 'text/event-stream', 'cache-control': 'no-cache', ...options.headers },
    });
    armIdleTimer();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    if (options.signal?.aborted) return finish('aborted');

    request.on('error', (error) => finish(error));
    request.on('response', (response) => {
      const type = response.headers['content-type'] ?? '';
      if (response.statusCode !== 200 || !type.startsWith('text/event-stream')) {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk.slice(0, 500)));
        response.on('end', () => finish(new Error(`GET ${url.href} answered ${response.statusCode} ${type} ${body.slice(0, 200)}`.trim())));
        response.on('error', (error) => finish(error));
        return;
      }
      const decode = createEventDecoder(options);
      options.onOpen?.();
      response.on('data', (chunk: Buffer) => {
        armIdleTimer();
        try {
          decode(chunk);
        } catch (error) {
          finish(error as Error);
        }
      });
      response.on('end', () => finish('ended'));
      response.on('error', (error) => finish(error));
      response.on('close', () => finish('ended'));
    });
  });
}

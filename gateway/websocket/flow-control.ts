// Relays the messages of one WebSocket leg to the other without unbounded
// buffering in between. While the destination holds more than HIGH_WATER_MARK
// bytes, or more than MAX_QUEUED messages, not yet handed to its socket (its
// peer is not reading), the source leg is paused: the gateway stops reading it,
// and TCP flow control pushes back on whoever is sending. The source resumes
// once the destination has drained below a quarter of both. After a pause, only
// what ws has already read from the socket can still arrive (at most one
// message, bounded by maxPayload, plus one read), so a direction never holds
// much more than HIGH_WATER_MARK + maxPayload. The count matters for tiny
// messages: each queued write costs ~100 bytes of bookkeeping, so 1 MiB of
// 4-byte messages would otherwise hold ~15 MiB of heap.
//
// A paused leg is not read, so the gateway would not notice its peer leaving
// either: a direction that stays backed up with nothing written out for
// `stallTimeoutMs` is reported (`onStalled`), and the relay ends.
import { WebSocket, type RawData } from 'ws';

export const HIGH_WATER_MARK = 2 ** 20;
export const MAX_QUEUED = 1024;

export interface RelayDirection {
  /** Stops watching for a stall (the relay has ended). */
  stop(): void;
}

/**
 * Forwards `from`'s messages to `to` while `relaying()` holds, pausing `from` while `to` is
 * backed up; calls `onStalled` when `to` has written nothing out for `stallTimeoutMs` meanwhile.
 */
export function relayMessages(
  from: WebSocket,
  to: WebSocket,
  options: { relaying(): boolean; stallTimeoutMs: number; onStalled(): void },
): RelayDirection {
  let stall: NodeJS.Timeout | undefined;
  /** Messages sent to `to` and not yet written out to its socket. */
  let queued = 0;
  // Called as each message is written out to the destination's socket (or dropped with it): progress.
  const onWritten = () => {
    queued -= 1;
    if (!from.isPaused) return;
    if (to.bufferedAmount > HIGH_WATER_MARK / 4 || queued > MAX_QUEUED / 4) return void stall?.refresh();
    clearTimeout(stall);
    stall = undefined;
    from.resume();
  };
  from.on('message', (data: RawData, isBinary: boolean) => {
    if (!options.relaying() || to.readyState !== WebSocket.OPEN) return;
    queued += 1;
    to.send(data, { binary: isBinary }, onWritten);
    if ((to.bufferedAmount > HIGH_WATER_MARK || queued > MAX_QUEUED) && !from.isPaused) {
      from.pause();
      stall = setTimeout(options.onStalled, options.stallTimeoutMs);
      stall.unref();
    }
  });
  return { stop: () => clearTimeout(stall) };
}

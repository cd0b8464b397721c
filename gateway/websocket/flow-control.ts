// Relays the messages of one WebSocket leg to the other without unbounded
// buffering in between. While the destination holds more than HIGH_WATER_MARK
// bytes not yet handed to its socket (its peer is not reading), the source leg
// is paused: the gateway stops reading it, and TCP flow control pushes back on
// whoever is sending. The source resumes once the destination has drained below
// LOW_WATER_MARK. After a pause, only what ws has already read from the socket
// can still arrive (at most one message, bounded by maxPayload, plus one read),
// so a direction never holds much more than HIGH_WATER_MARK + maxPayload.
import { WebSocket, type RawData } from 'ws';

export const HIGH_WATER_MARK = 2 ** 20;
export const LOW_WATER_MARK = HIGH_WATER_MARK / 4;

/** Forwards `from`'s messages to `to` while `relaying()` holds, pausing `from` while `to` is backed up. */
export function relayMessages(from: WebSocket, to: WebSocket, relaying: () => boolean): void {
  // Called as each message is written out to the destination's socket.
  const resumeOnceDrained = () => {
    if (from.isPaused && to.bufferedAmount <= LOW_WATER_MARK) from.resume();
  };
  from.on('message', (data: RawData, isBinary: boolean) => {
    if (!relaying() || to.readyState !== WebSocket.OPEN) return;
    to.send(data, { binary: isBinary }, resumeOnceDrained);
    if (to.bufferedAmount > HIGH_WATER_MARK) from.pause();
  });
}

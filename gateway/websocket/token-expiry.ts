// A relayed WebSocket lives no longer than the access token it was opened with:
// it ends when the gateway would stop accepting that token on a plain request.
// One unref'd timer per socket; re-arming it for a fresher token (RelayedSocket.renew)
// is how a session that renews its token keeps its socket.

/** setTimeout fires at once (with a warning) for delays beyond this: long waits go in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The instant (ms) from which a token with this `exp` is refused: the verifier hands
 * jose the tolerance in whole seconds, and jose refuses once `exp <= now - tolerance`
 * (now in whole seconds).
 */
export function tokenDeadlineMs(expSec: number, clockToleranceMs: number): number {
  return (expSec + Math.floor(clockToleranceMs / 1000)) * 1000;
}

export class ExpiryTimer {
  readonly #onExpired: () => void;
  readonly #now: () => number;
  #deadlineMs = Number.POSITIVE_INFINITY;
  #timer: NodeJS.Timeout | undefined;

  constructor(onExpired: () => void, now: () => number = Date.now) {
    this.#onExpired = onExpired;
    this.#now = now;
  }

  /** (Re)arms the timer; `onExpired` runs once, asynchronously, at or after `deadlineMs`. */
  arm(deadlineMs: number): void {
    this.cancel();
    this.#deadlineMs = deadlineMs;
    this.#schedule();
  }

  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    const remaining = this.#deadlineMs - this.#now();
    this.#timer = setTimeout(
      () => {
        // Timers may fire a little early, and long waits are split: never expire before the deadline.
        if (this.#deadlineMs > this.#now()) return this.#schedule();
        this.#timer = undefined;
        this.#onExpired();
      },
      Math.min(Math.max(0, remaining), MAX_TIMER_MS),
    );
    this.#timer.unref();
  }
}

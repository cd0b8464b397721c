// Exponential backoff with jitter, and a sleep that an AbortSignal cuts short.

export interface BackoffOptions {
  minMs: number;
  maxMs: number;
}

/** Delay before retry number `attempt` (0-based): min·2^attempt capped at max, jittered to 50–100 %. */
export function backoffDelay(attempt: number, { minMs, maxMs }: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling * (0.5 + random() * 0.5));
}

/** Resolves after `ms`, or early (without throwing) when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

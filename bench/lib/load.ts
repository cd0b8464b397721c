// Load generation with autocannon, run inside a load-generator child process
// (bench/lib/host.ts `runLoad`), never in a process that serves. Latency is
// taken from every response at sub-millisecond resolution (autocannon's own
// histogram is whole milliseconds, and counts only 2xx).
import autocannon from 'autocannon';
import { summarize, type Summary } from './stats.ts';

export interface LoadSpec {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /**
   * One body per request, each used once (e.g. pre-issued refresh tokens).
   * When they run out the run stops early and `exhausted` is set.
   */
  bodies?: string[];
  /**
   * Requests taken in turn (not with `bodies`): their headers are added and
   * their body replaces `body` (e.g. one user and address per simulated client).
   */
  rotate?: Array<{ headers?: Record<string, string>; body?: string }>;
  connections: number;
  durationSec: number;
  /** The status that counts as success (default 200). */
  okStatus?: number;
  /** Unmeasured warm-up first (JIT, connection pools), same settings. */
  warmupSec?: number;
  /** Per-request timeout (default 10 s). */
  timeoutSec?: number;
}

export interface LoadResult {
  /** Responses received in the measured window. */
  requests: number;
  ok: number;
  /** Successful responses per second. */
  rps: number;
  elapsedSec: number;
  /** Latency of every response, ms. */
  latency: Summary;
  statuses: Record<string, number>;
  errors: number;
  timeouts: number;
  exhausted: boolean;
}

async function once(spec: LoadSpec, durationSec: number, record: boolean): Promise<LoadResult> {
  const okStatus = spec.okStatus ?? 200;
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let ok = 0;
  let next = 0;
  let exhausted = false;
  const bodies = spec.bodies;
  const options: autocannon.Options = {
    url: spec.url,
    method: spec.method ?? 'GET',
    headers: spec.headers ?? {},
    connections: spec.connections,
    duration: durationSec,
    timeout: spec.timeoutSec ?? 10,
    ...(spec.body !== undefined ? { body: spec.body } : {}),
  };
  let instance: autocannon.Instance;
  const rotation = spec.rotate;
  if (bodies) {
    options.requests = [
      {
        setupRequest: (request) => {
          if (next >= bodies.length) {
            if (!exhausted) {
              exhausted = true;
              setImmediate(() => instance.stop());
            }
            return { ...request, body: bodies[bodies.length - 1] };
          }
          return { ...request, body: bodies[next++] };
        },
      },
    ];
  } else if (rotation) {
    options.requests = [
      {
        setupRequest: (request) => {
          const turn = rotation[next++ % rotation.length];
          return { ...request, headers: { ...request.headers, ...turn?.headers }, body: turn?.body ?? request.body };
        },
      },
    ];
  }
  const started = performance.now();
  let stoppedAt = 0;
  const done = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(options, (error, result) => (error ? reject(error) : resolve(result)));
  });
  instance!.on('response', (_client, statusCode, _bytes, responseTime) => {
    if (stoppedAt) return;
    if (record) latencies.push(responseTime);
    statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
    if (statusCode === okStatus) ok += 1;
  });
  instance!.on('done', () => (stoppedAt ||= performance.now()));
  const result = await done;
  const elapsedSec = ((stoppedAt || performance.now()) - started) / 1000;
  const requests = Object.values(statuses).reduce((sum, n) => sum + n, 0);
  return {
    requests,
    ok,
    rps: ok / elapsedSec,
    elapsedSec,
    latency: summarize(latencies),
    statuses,
    errors: result.errors,
    timeouts: result.timeouts,
    exhausted,
  };
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  if (spec.warmupSec && !spec.bodies) await once(spec, spec.warmupSec, false);
  return once(spec, spec.durationSec, true);
}

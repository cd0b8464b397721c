// Bursts of failed logins from one address, each followed at once by one
// legitimate login from another address, timed. Run in a load-generator child
// (bench/lib/host.ts `runBursts`). The addresses travel in X-Forwarded-For, so
// the token service under test runs with TRUST_PROXY=true.
import { summarize, type Summary } from './stats.ts';

export interface BurstSpec {
  url: string;
  rounds: number;
  /** Failed logins fired at once at the start of each round (0: none). */
  burstSize: number;
  burstAddress: string;
  /** The legitimate login, sent once per round just after the burst. */
  login: { username: string; password: string; address: string };
  /** Pause after a round, once its burst has been answered. */
  pauseMs: number;
}

export interface BurstResult {
  /** Latency of the legitimate logins, ms. */
  login: Summary;
  loginStatuses: Record<string, number>;
  /** Latency of the burst's requests, ms. */
  burst: Summary;
  burstStatuses: Record<string, number>;
}

async function post(url: string, address: string, body: object): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(120_000),
  });
  await response.arrayBuffer();
  return { status: response.status, ms: performance.now() - started };
}

const tally = (statuses: Record<string, number>, status: number) => {
  statuses[status] = (statuses[status] ?? 0) + 1;
};

export async function runBursts(spec: BurstSpec): Promise<BurstResult> {
  const login: number[] = [];
  const burst: number[] = [];
  const loginStatuses: Record<string, number> = {};
  const burstStatuses: Record<string, number> = {};
  for (let round = 0; round < spec.rounds; round += 1) {
    // A different unknown name per request: only the per-address rules can hold the burst back.
    const burstDone = Promise.all(
      Array.from({ length: spec.burstSize }, (_, i) =>
        post(spec.url, spec.burstAddress, {
          username: `burst-${round}-${i}-${Math.random().toString(36).slice(2, 8)}`,
          password: 'Wrong-password-1',
        }).then((reply) => {
          burst.push(reply.ms);
          tally(burstStatuses, reply.status);
        }),
      ),
    );
    // Let the burst arrive first.
    if (spec.burstSize > 0) await new Promise((resolve) => setTimeout(resolve, 20));
    const reply = await post(spec.url, spec.login.address, { username: spec.login.username, password: spec.login.password });
    login.push(reply.ms);
    tally(loginStatuses, reply.status);
    await burstDone;
    await new Promise((resolve) => setTimeout(resolve, spec.pauseMs));
  }
  return { login: summarize(login), loginStatuses, burst: summarize(burst), burstStatuses };
}

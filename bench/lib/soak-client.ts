// The soak scenario's clients, run in a load-generator child: virtual users
// that each, until the deadline, log in, alternate calls through the gateway
// with refreshes (rotating the refresh token each time), log out, and check
// that the gateway then refuses the old access token. Every unexpected answer
// is an error.
import { summarize, type Summary } from './stats.ts';

export interface SoakSpec {
  tokenUrl: string;
  gatewayUrl: string;
  users: Array<{ username: string; password: string }>;
  virtualUsers: number;
  durationSec: number;
  refreshesPerSession: number;
  callsPerRefresh: number;
}

export interface SoakResult {
  counts: Record<string, number>;
  errors: number;
  errorSamples: string[];
  latency: Record<string, Summary>;
}

interface Pair {
  access_token: string;
  refresh_token: string;
}

export async function runSoak(spec: SoakSpec): Promise<SoakResult> {
  const deadline = performance.now() + spec.durationSec * 1000;
  const counts: Record<string, number> = {};
  const latencies: Record<string, number[]> = {};
  const errorSamples: string[] = [];
  let errors = 0;

  const timed = async (kind: string, expected: number, url: string, init: RequestInit): Promise<Response | undefined> => {
    const started = performance.now();
    try {
      const response = await fetch(url, init);
      (latencies[kind] ??= []).push(performance.now() - started);
      if (response.status !== expected) {
        errors += 1;
        if (errorSamples.length < 10) errorSamples.push(`${kind}: ${response.status} ${(await response.text()).slice(0, 200)}`);
        else await response.arrayBuffer();
        return undefined;
      }
      counts[kind] = (counts[kind] ?? 0) + 1;
      return response;
    } catch (error) {
      errors += 1;
      if (errorSamples.length < 10) errorSamples.push(`${kind}: ${(error as Error).message}`);
      return undefined;
    }
  };
  const json = { 'content-type': 'application/json' };

  const virtualUser = async (index: number): Promise<void> => {
    const user = spec.users[index % spec.users.length]!;
    while (performance.now() < deadline) {
      // Each virtual user is a client of its own (the token service trusts X-Forwarded-For here).
      const login = await timed('login', 200, `${spec.tokenUrl}/auth/login`, {
        method: 'POST',
        headers: { ...json, 'x-forwarded-for': `198.51.100.${index + 1}` },
        body: JSON.stringify(user),
      });
      if (!login) continue;
      let pair = (await login.json()) as Pair;
      for (let r = 0; r < spec.refreshesPerSession && performance.now() < deadline; r += 1) {
        for (let c = 0; c < spec.callsPerRefresh; c += 1) {
          const call = await timed('gateway call', 200, `${spec.gatewayUrl}/private/soak`, {
            headers: { authorization: `Bearer ${pair.access_token}` },
          });
          await call?.arrayBuffer();
        }
        const refreshed = await timed('refresh', 200, `${spec.tokenUrl}/oauth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'refresh_token', client_id: 'web', refresh_token: pair.refresh_token }).toString(),
        });
        if (!refreshed) break;
        pair = (await refreshed.json()) as Pair;
      }
      const logout = await timed('logout', 204, `${spec.tokenUrl}/auth/logout`, {
        method: 'POST',
        headers: { authorization: `Bearer ${pair.access_token}` },
      });
      if (!logout) continue;
      // The gateway must refuse the session's access token promptly.
      const loggedOut = performance.now();
      for (;;) {
        const probe = await fetch(`${spec.gatewayUrl}/private/soak`, { headers: { authorization: `Bearer ${pair.access_token}` } });
        await probe.arrayBuffer();
        if (probe.status === 401) {
          counts['401 after logout'] = (counts['401 after logout'] ?? 0) + 1;
          (latencies['401 after logout'] ??= []).push(performance.now() - loggedOut);
          break;
        }
        if (performance.now() - loggedOut > 2000) {
          errors += 1;
          if (errorSamples.length < 10) errorSamples.push(`gateway still answers ${probe.status} 2 s after logout`);
          break;
        }
      }
    }
  };

  await Promise.all(Array.from({ length: spec.virtualUsers }, (_, i) => virtualUser(i)));
  return {
    counts,
    errors,
    errorSamples,
    latency: Object.fromEntries(Object.entries(latencies).map(([kind, samples]) => [kind, summarize(samples)])),
  };
}

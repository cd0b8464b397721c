// Scenario 3: from the moment the logout response arrives to the gateway's
// first 401 for that session's access token. Measured two ways each round:
// over HTTP (the client's view, polling the gateway tightly) and by a probe on
// the gateway's denylist (when the entry was applied), on one instance, and on
// two token services and two gateways sharing PostgreSQL (logout through A,
// observed at the gateway in front of B).
//
// Cookie sessions (issue 11) the same way: a browser signs in at the gateway
// (authorization code; the gateway's sealed cookie), another device of the
// same user signs out everywhere at the token service (POST /auth/logout,
// scope global), and the clock runs from that response to the gateway's first
// 401 to a request carrying the cookie. A global logout denies every token of
// the user issued up to that second, so each round signs in a new user.
import crypto from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { freePort } from '../../test/support/fault-proxy.ts';
import { login, newUser, request } from '../../test/support/http.ts';
import { startStack, type Stack, type StackOptions } from '../../test/support/stack.ts';
import { createTestDatabase, testDatabaseUrl } from '../../test/support/databases.ts';
import type { Gateway } from '../../gateway/app.ts';
import { cookieSignIn } from '../lib/services.ts';
import { printTable, quickMode, summarize, type Cell } from '../lib/stats.ts';

const sidOf = (token: string): string => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).sid;

async function rounds(loginVia: Stack, logoutVia: Stack, observeAt: Gateway, count: number) {
  const http: number[] = [];
  const probe: number[] = [];
  const user = newUser('bench');
  const registered = await request(loginVia.token.url, 'POST', '/auth/register', { json: user });
  if (registered.status !== 201) throw new Error(`register failed: ${registered.text}`);
  for (let round = 0; round < count; round += 1) {
    const tokens = await login(loginVia.token.url, user.username, user.password);
    const ok = await request(observeAt.url, 'GET', '/whoami', { token: tokens.access_token });
    if (ok.status !== 200) throw new Error(`round ${round}: gateway answered ${ok.status} before logout`);
    const sid = sidOf(tokens.access_token);
    const applied = observeAt.denylist.waitFor({ kind: 'session', key: sid }, 10_000).then(() => performance.now());
    const logout = await request(logoutVia.token.url, 'POST', '/auth/logout', { token: tokens.access_token });
    const sent = performance.now();
    if (logout.status !== 204) throw new Error(`round ${round}: logout answered ${logout.status}`);
    for (;;) {
      const reply = await request(observeAt.url, 'GET', '/whoami', { token: tokens.access_token });
      if (reply.status === 401) break;
      if (performance.now() - sent > 10_000) throw new Error(`round ${round}: still ${reply.status} after 10 s`);
    }
    http.push(performance.now() - sent);
    // Negative when the entry was applied before the logout response reached the client.
    probe.push((await applied) - sent);
  }
  return { http: summarize(http), probe: summarize(probe) };
}

async function cookieRounds(loginVia: Stack, logoutVia: Stack, observeAt: { stack: Stack; gateway: Gateway }, count: number) {
  const http: number[] = [];
  const probe: number[] = [];
  const gateway = observeAt.gateway;
  // The browser is sent to the issuer's public URL; this stack's token service answers it.
  const authority = { issuer: observeAt.stack.issuer, tokenUrl: observeAt.stack.issuerProxy.url };
  for (let round = 0; round < count; round += 1) {
    const user = newUser('bench');
    const registered = await request<{ id: string }>(loginVia.token.url, 'POST', '/auth/register', { json: user });
    if (registered.status !== 201) throw new Error(`register failed: ${registered.text}`);
    const otherDevice = await login(loginVia.token.url, user.username, user.password);
    const cookie = { cookie: `session=${await cookieSignIn(gateway.url, authority, user)}` };
    const ok = await request(gateway.url, 'GET', '/whoami', { headers: cookie });
    if (ok.status !== 200) throw new Error(`round ${round}: gateway answered ${ok.status} to the cookie before logout`);
    const applied = gateway.denylist.waitFor({ kind: 'user', key: registered.body.id }, 10_000).then(() => performance.now());
    const logout = await request(logoutVia.token.url, 'POST', '/auth/logout', {
      token: otherDevice.access_token,
      json: { scope: 'global' },
    });
    const sent = performance.now();
    if (logout.status !== 204) throw new Error(`round ${round}: logout answered ${logout.status}`);
    for (;;) {
      const reply = await request(gateway.url, 'GET', '/whoami', { headers: cookie });
      if (reply.status === 401) break;
      if (performance.now() - sent > 10_000) throw new Error(`round ${round}: cookie still ${reply.status} after 10 s`);
    }
    http.push(performance.now() - sent);
    probe.push((await applied) - sent);
  }
  return { http: summarize(http), probe: summarize(probe) };
}

/** A stack whose gateway signs browsers in (cookie sessions): its public URL is known to the token service up front. */
async function startCookieStack(options: StackOptions = {}): Promise<Stack> {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  // A key of its own: the development key applies only to a loopback issuer.
  const sessionCookieKeys = [crypto.randomBytes(32)];
  return startStack({ ...options, tokenEnv: { GATEWAY_PUBLIC_URL: publicUrl }, gateway: { port, publicUrl, sessionCookieKeys } });
}

export async function revocationLatency(): Promise<void> {
  const count = quickMode() ? 20 : 200;
  // Each cookie round signs a new user in (three password hashes): fewer rounds in quick mode.
  const cookieCount = quickMode() ? 5 : 200;
  const rows: Cell[][] = [];
  const row = (name: string, s: ReturnType<typeof summarize>) => [name, s.count, s.p50, s.p90, s.p99, s.max];

  const single = await startCookieStack();
  try {
    const result = await rounds(single, single, single.gateway, count);
    const kind = single.token.database.kind;
    rows.push(row(`1 service + 1 gateway (${kind}), HTTP`, result.http));
    rows.push(row(`1 service + 1 gateway (${kind}), probe`, result.probe));
    const cookies = await cookieRounds(single, single, { stack: single, gateway: single.gateway }, cookieCount);
    rows.push(row(`1 service + 1 gateway (${kind}), cookie session, global logout, HTTP`, cookies.http));
    rows.push(row(`1 service + 1 gateway (${kind}), cookie session, global logout, probe`, cookies.probe));
  } finally {
    await single.stop();
  }

  if (testDatabaseUrl()) {
    const database = await createTestDatabase();
    const issuer = 'http://auth.bench.test';
    const a = await startCookieStack({ database, issuer });
    // Started last: its gateway's callback URL is the one the shared client row keeps.
    const b = await startCookieStack({ database, issuer });
    try {
      const result = await rounds(a, a, b.gateway, count);
      rows.push(row('2 services + 2 gateways (postgres), logout on A, gateway B, HTTP', result.http));
      rows.push(row('2 services + 2 gateways (postgres), logout on A, gateway B, probe', result.probe));
      const cookies = await cookieRounds(a, a, { stack: b, gateway: b.gateway }, cookieCount);
      rows.push(row('2 services + 2 gateways (postgres), cookie session at B, global logout on A, HTTP', cookies.http));
      rows.push(row('2 services + 2 gateways (postgres), cookie session at B, global logout on A, probe', cookies.probe));
    } finally {
      await a.stop();
      await b.stop();
      await database.drop();
    }
  } else {
    rows.push(['2 services + 2 gateways: skipped (set TEST_DATABASE_URL for PostgreSQL)', '', '', '', '', '']);
  }
  printTable(
    'Revocation latency: logout response → gateway 401 to the access token, or to the session cookie (ms; target p99 ≤ 50)',
    ['setup', 'rounds', 'p50', 'p90', 'p99', 'max'],
    rows,
  );
}

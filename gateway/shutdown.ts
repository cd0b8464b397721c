// Graceful stop of the HTTP server: no new connections, idle keep-alive ones
// closed at once, requests in flight given SHUTDOWN_GRACE to finish, then every
// connection still open cut.
import type { Server } from 'node:http';
import { sleep } from './lib/backoff.ts';

export async function drainServer(server: Server, graceMs: number): Promise<void> {
  const drained = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const grace = new AbortController();
  await Promise.race([drained, sleep(graceMs, grace.signal)]);
  grace.abort();
  server.closeAllConnections();
  await drained;
}

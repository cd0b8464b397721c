// Container health check (no curl in slim images): `node deploy/healthcheck.mjs [url] [status]`.
// Exits 0 when `url` (default $HEALTHCHECK_URL) answers with `status` (default 200)
// within 3 s, 1 otherwise, printing why (docker inspect shows it).
/* global process, console, fetch, AbortSignal */
const url = process.argv[2] ?? process.env.HEALTHCHECK_URL ?? 'http://127.0.0.1:4000/healthz';
const expected = Number(process.argv[3] ?? 200);

try {
  const response = await fetch(url, { signal: AbortSignal.timeout(3000), headers: { 'user-agent': 'healthcheck' } });
  await response.body?.cancel();
  if (response.status === expected) process.exit(0);
  console.error(`${url} answered ${response.status}, expected ${expected}`);
} catch (error) {
  console.error(`${url}: ${error instanceof Error ? (error.cause?.message ?? error.message) : error}`);
}
process.exit(1);

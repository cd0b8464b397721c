// Shared pieces of the property-based fuzz suites: the seed, bounded runs,
// adversarial value generators and a raw HTTP client that sends exactly what
// it is given.
import http from 'node:http';
import net from 'node:net';
import fc from 'fast-check';
import type { Knex } from 'knex';

/**
 * FUZZ_SEED=<int> replays a run (the failure message prints the seed and the
 * path); FUZZ_SEED=random explores new inputs. The default is fixed so that
 * CI runs are reproducible. FUZZ_SCALE multiplies the number of runs.
 */
export function fuzzSeed(): number {
  const configured = process.env.FUZZ_SEED;
  if (configured === 'random') return randomSeed;
  if (configured && /^-?\d+$/.test(configured)) return Number(configured);
  return 0x5eed_2026;
}
const randomSeed = Math.floor(Math.random() * 2 ** 31);

export const runs = (base: number): number => Math.max(1, Math.round(base * Number(process.env.FUZZ_SCALE ?? 1)));

/** fc.assert with the suite's seed; a failure says how to replay it. */
export async function check<T>(
  name: string,
  arbitrary: fc.Arbitrary<T>,
  predicate: (value: T) => Promise<void>,
  numRuns: number,
): Promise<void> {
  // Each property gets its own stream of inputs, derived from the suite's seed and its name.
  const base = fuzzSeed();
  let seed = base;
  for (const char of name) seed = (Math.imul(seed, 31) + char.charCodeAt(0)) | 0;
  try {
    await fc.assert(
      fc.asyncProperty(arbitrary, async (value) => {
        await predicate(value);
      }),
      // Bounded by count only: a time limit would end a slow run early and pass it with
      // fewer runs than it claims. A run that is too slow fails on mocha's timeout instead.
      { seed, numRuns, endOnFailure: true },
    );
  } catch (error) {
    // Counterexamples can hold 40 KB strings: keep each line of the report readable.
    const cause = (error as Error).cause as Error | undefined;
    const report = `${(error as Error).message}${cause ? `\nGot: ${cause.message}` : ''}`
      .split('\n')
      .map((line) => (line.length > 1500 ? `${line.slice(0, 1500)}… (${line.length} characters)` : line))
      .join('\n');
    const message = `fuzz property "${name}" failed (suite seed ${base}, property seed ${seed}); replay with FUZZ_SEED=${base}\n${report}`;
    console.error(message);
    const failure = new Error(message);
    failure.stack = message;
    throw failure;
  }
}

/** Requests sent and statuses seen, per property: printed after the suite (SUITE_STATS=1) for the issue note. */
export class FuzzStats {
  readonly #byProperty = new Map<string, Map<number, number>>();
  record(property: string, status: number): void {
    const statuses = this.#byProperty.get(property) ?? new Map<number, number>();
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    this.#byProperty.set(property, statuses);
  }
  get total(): number {
    let sum = 0;
    for (const statuses of this.#byProperty.values()) for (const count of statuses.values()) sum += count;
    return sum;
  }
  report(title: string): string {
    const lines = [...this.#byProperty].map(([property, statuses]) => {
      const sorted = [...statuses].sort(([a], [b]) => a - b).map(([status, count]) => `${status}×${count}`);
      return `  ${property}: ${sorted.join(' ')}`;
    });
    return `${title}: ${this.total} requests\n${lines.join('\n')}`;
  }
}

// ---- values ----------------------------------------------------------------

const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 80 });

/** Strings chosen to break parsers, validators and normalisers. */
/** Percent-encodes any string (lone surrogates included) into a valid request-target segment. */
export const segment = (value: string): string =>
  [...Buffer.from(value, 'utf8')]
    .map((byte) =>
      /[A-Za-z0-9\-._~]/.test(String.fromCharCode(byte))
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`,
    )
    .join('');

export const nastyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) }, // any code point, lone surrogates included
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '',
      ' ',
      '\u0000',
      '%00',
      '%',
      '%zz',
      '../../etc/passwd',
      "' OR 1=1 --",
      '"; DROP TABLE users; --',
      '__proto__',
      'constructor',
      'prototype',
      'toString',
      '{}',
      '[]',
      'null',
      'undefined',
      'NaN',
      '-1',
      '1e309',
      '9007199254740993',
      '\u202eevil',
      'e\u0301',
      'ﬁ',
      'ＡＤＭＩＮ',
      '😀😀😀',
      '\ud800',
      'a\r\nX-Injected: 1',
      '<script>alert(1)</script>',
      'admin',
      'openid profile',
      'notes:read notes:write admin',
    ),
  },
  { weight: 1, arbitrary: fc.integer({ min: 250, max: 40_000 }).map((n) => 'x'.repeat(n)) },
  { weight: 1, arbitrary: fc.constantFrom(64, 255, 256, 257, 1024, 1025, 4096, 4097, 8192, 8193).map((n) => 'a'.repeat(n)) },
);

/** Any JSON value, biased towards the nasty. */
export const nastyJson: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: nastyString },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.boolean() },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 1, arbitrary: fc.array(nastyString, { maxLength: 3 }) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.dictionary(nastyString, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }) },
);

export const headerValue = printable;

/** Sequences of bytes that are not quite HTTP. */
export const garbageBytes: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 600 }).map((bytes) => Buffer.from(bytes)),
  fc
    .tuple(
      fc.constantFrom('GET', 'POST', 'DELETE', 'OPTIONS', 'PRI', 'G\u0000T', 'get', '', 'CONNECT', 'TRACE'),
      fc.oneof(fc.constantFrom('/', '/oauth/token', '/auth/me', '/whoami', '*', 'http://evil/', '//x', '/%', '/\u0000', ''), printable),
      fc.constantFrom('HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9', '', 'HTTP/1.1 extra'),
      fc.array(
        fc.oneof(
          fc.tuple(printable, printable).map(([name, value]) => `${name}: ${value}`),
          fc.constantFrom(
            'Content-Length: -1',
            'Content-Length: 99999999999999999999',
            'Content-Length: 5\r\nContent-Length: 6',
            'Transfer-Encoding: chunked',
            'Transfer-Encoding: chunked, identity',
            'Transfer-Encoding: xchunked',
            'Host:',
            'Host: a\r\nHost: b',
            ' folded: header',
            'NoColon',
            'Authorization: Bearer \u0001',
            'Expect: 100-continue',
            'Content-Type: application/json',
            'Connection: Upgrade\r\nUpgrade: websocket',
          ),
        ),
        { maxLength: 6 },
      ),
      fc.oneof(fc.constant(''), printable, fc.constantFrom('0\r\n\r\n', 'zz\r\nabc\r\n', '5\r\nhello\r\n0\r\n\r\n', '{"a":')),
      fc.constantFrom('\r\n', '\n', '\r'),
    )
    .map(([method, target, version, headers, body, eol]) =>
      Buffer.from([`${method} ${target} ${version}`.trim(), ...headers, '', body].join(eol), 'latin1'),
    ),
);

// ---- HTTP --------------------------------------------------------------------

export interface Exchange {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

export interface RawRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer | string | undefined;
}

/**
 * One request over a fresh connection. Server-Sent Event streams are read up
 * to their headers and then dropped; a bounded wait guards against hangs.
 */
export function send(base: string, request: RawRequest, timeoutMs = 10_000): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const url = new URL(base);
    const req = http.request(
      { host: url.hostname, port: url.port, method: request.method, path: request.path, headers: request.headers, agent: false },
      (res) => {
        if (String(res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
          clearTimeout(timer);
          res.destroy();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: '' });
          return;
        }
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', (error) => {
          clearTimeout(timer);
          reject(error);
        });
      },
    );
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no complete answer within ${timeoutMs} ms: ${request.method} ${request.path.slice(0, 200)}`));
    }, timeoutMs);
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.end(request.body);
  });
}

/**
 * Writes raw bytes and collects whatever comes back until the server closes
 * (or the bound runs out, after which we close: a server may legitimately
 * wait for the rest of a request).
 */
export function sendRaw(port: number, bytes: Buffer, waitMs = 300): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const timer = setTimeout(finish, waitMs);
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', finish);
    socket.on('close', finish);
    socket.write(bytes, () => undefined);
  });
}

/** The status line of every response in a raw reply (pipelined garbage may yield several). */
export function statusesIn(raw: string): number[] {
  return [...raw.matchAll(/^HTTP\/1\.[01] (\d{3})/gm)].map((match) => Number(match[1]));
}

// ---- database ------------------------------------------------------------------

export interface RowCounts {
  users: number;
  sessions: number;
  refresh_tokens: number;
  revocations: number;
  consumed_refresh_tokens: number;
  revoked_sessions: number;
  signin_sessions: number;
  ended_signin_sessions: number;
  authorization_codes: number;
  consents: number;
}

/**
 * Row counts of the tables a request can change (plus the state columns that matter).
 * Consumed codes are not counted: a refused code exchange burns its code by design.
 */
export async function rowCounts(knex: Knex): Promise<RowCounts> {
  const result = await knex.raw(`
    SELECT (SELECT count(*) FROM users) AS users,
           (SELECT count(*) FROM sessions) AS sessions,
           (SELECT count(*) FROM refresh_tokens) AS refresh_tokens,
           (SELECT count(*) FROM revocations) AS revocations,
           (SELECT count(*) FROM refresh_tokens WHERE consumed_at IS NOT NULL) AS consumed_refresh_tokens,
           (SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL) AS revoked_sessions,
           (SELECT count(*) FROM signin_sessions) AS signin_sessions,
           (SELECT count(*) FROM signin_sessions WHERE ended_at IS NOT NULL) AS ended_signin_sessions,
           (SELECT count(*) FROM authorization_codes) AS authorization_codes,
           (SELECT count(*) FROM consents) AS consents`);
  const row = (result.rows as Array<Record<string, unknown>>)[0] as Record<string, unknown>;
  return Object.fromEntries(Object.entries(row).map(([name, value]) => [name, Number(value)])) as unknown as RowCounts;
}

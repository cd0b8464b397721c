// kill -9 of the token service while 20 clients refresh continuously. The
// service runs as a child process (`node --import tsx services/token/server.ts`:
// one process, so SIGKILL hits the server itself, not a wrapper) on a fresh
// PostgreSQL database, or on a PGlite data directory. After the kill the
// database must satisfy the family invariants, the service must come back on
// the same database, and every client must hold a working token or get a
// clean invalid_grant.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { openDatabase, type Database } from '../../db/connection.ts';
import { createTestDatabase, type TestDatabase } from '../support/databases.ts';
import { freePort } from '../support/fault-proxy.ts';
import { refresh, registerAndLogin, request } from '../support/http.ts';
import { DEV_CLIENTS_FILE } from '../support/token-service.ts';
import { invariantViolations } from './invariants.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLIENTS = 20;

interface Child {
  process: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

async function startChild(env: Record<string, string>, port: number): Promise<Child> {
  const inherited = { ...process.env };
  delete inherited.DATABASE_URL;
  delete inherited.DATA_DIR;
  const child = spawn(process.execPath, ['--import', 'tsx', 'services/token/server.ts'], {
    cwd: root,
    env: {
      ...inherited,
      NODE_ENV: 'production',
      TOKEN_HOST: '127.0.0.1',
      TOKEN_PORT: String(port),
      ISSUER: `http://127.0.0.1:${port}`,
      CLIENTS_FILE: DEV_CLIENTS_FILE,
      PASSWORD_HASH_COST: '12',
      LOG_LEVEL: 'warn',
      LOGIN_THROTTLE_IP_FREE: '1000000',
      // All clients log in at once from one address.
      PASSWORD_HASH_PENDING_MAX: '100',
      PASSWORD_HASH_PENDING_PER_ADDRESS: '100',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000)));
  child.stderr?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`token service exited with ${child.exitCode}:\n${output}`);
    const ready = await fetch(`${url}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`token service not ready within 60 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { process: child, url, output: () => output, exited };
}

interface Client {
  token: string;
  refreshes: number;
  /** The last request never got an answer: it was in flight when the service died. */
  inFlightAtKill: boolean;
  failure?: string;
}

describe('reliability: kill -9 of the token service while 20 clients refresh', function () {
  this.timeout(120_000);
  let database: TestDatabase | undefined;
  let dataDir: string | undefined;
  let env: Record<string, string>;
  let child: Child | undefined;

  before(async () => {
    database = await createTestDatabase();
    if (database.kind === 'pglite') {
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'authority-crash-'));
      env = { DATA_DIR: path.join(dataDir, 'db') };
    } else {
      env = { DATABASE_URL: database.env.DATABASE_URL as string };
    }
  });
  after(async () => {
    if (child && child.process.exitCode === null) {
      child.process.kill('SIGKILL');
      await child.exited;
    }
    await database?.drop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  /** The database, opened from this process (PGlite: only while no service holds it). */
  async function withDatabase<T>(run: (db: Database) => Promise<T>): Promise<T> {
    const db = await openDatabase({ databaseUrl: env.DATABASE_URL, dataDir: env.DATA_DIR, poolMax: 2 });
    try {
      return await run(db);
    } finally {
      await db.close();
    }
  }

  it('leaves a consistent database, restarts on it, and every client has a working token or a clean invalid_grant', async () => {
    const port = await freePort();
    child = await startChild(env, port);
    const clients: Client[] = await Promise.all(
      Array.from({ length: CLIENTS }, async () => ({
        token: (await registerAndLogin(child!.url, 'crash')).tokens.refresh_token,
        refreshes: 0,
        inFlightAtKill: false,
      })),
    );

    let total = 0;
    let killed = false;
    let reachedTarget!: () => void;
    const target = new Promise<void>((resolve) => (reachedTarget = resolve));
    const loops = clients.map(async (client) => {
      for (;;) {
        let reply;
        try {
          reply = await refresh(child!.url, client.token);
        } catch {
          client.inFlightAtKill = true; // no answer: the service died under this request
          return;
        }
        if (reply.status !== 200) {
          client.failure = `${reply.status} ${reply.text}`;
          return;
        }
        client.token = reply.body.refresh_token;
        client.refreshes += 1;
        total += 1;
        if (total >= 300) reachedTarget();
        if (killed) return;
      }
    });
    await target;
    // SIGKILL: no shutdown hook, no draining, transactions cut wherever they are.
    killed = true;
    child.process.kill('SIGKILL');
    expect(await child.exited).to.equal(null);
    await Promise.all(loops);

    expect(
      clients.filter((c) => c.failure),
      'no refresh failed before the kill',
    ).to.deep.equal([]);
    expect(total).to.be.at.least(300);
    const inFlight = clients.filter((c) => c.inFlightAtKill).length;

    // The database as the dead process left it.
    const before = await withDatabase(async (db) => ({
      violations: await invariantViolations(db.knex),
      tokens: Number((await db.knex('refresh_tokens').count('* as n'))[0]?.n),
    }));
    expect(before.violations, 'invariants right after the kill').to.deep.equal([]);
    // Every successful refresh and login committed its token (and maybe the in-flight ones did too).
    expect(before.tokens).to.be.within(CLIENTS + total, CLIENTS + total + inFlight);

    // Restart on the same database.
    child = await startChild(env, port);
    const outcomes = { working: 0, invalidGrant: 0 };
    for (const client of clients) {
      const reply = await refresh(child.url, client.token);
      if (reply.status === 200) {
        outcomes.working += 1;
        const me = await request(child.url, 'GET', '/auth/me', { token: reply.body.access_token });
        expect(me.status, 'the new access token works').to.equal(200);
        expect((await refresh(child.url, reply.body.refresh_token)).status, 'and so does the new refresh token').to.equal(200);
      } else {
        // Only a client whose last refresh committed without it hearing the answer may lose its session.
        expect(client.inFlightAtKill, `a client that held a valid token got ${reply.status} ${reply.text}`).to.equal(true);
        expect(reply.status).to.equal(400);
        expect(reply.body.error).to.equal('invalid_grant');
        outcomes.invalidGrant += 1;
      }
    }
    expect(outcomes.working + outcomes.invalidGrant).to.equal(CLIENTS);
    expect(outcomes.working).to.be.at.least(CLIENTS - inFlight);

    // And the database is still consistent after the clients' recovery refreshes.
    child.process.kill('SIGTERM');
    expect(await child.exited, `graceful exit:\n${child.output()}`).to.equal(0);
    expect(await withDatabase((db) => invariantViolations(db.knex)), 'invariants after restart').to.deep.equal([]);
    if (process.env.SUITE_STATS)
      console.log(
        `      (kill -9 after ${total} refreshes; ${inFlight} in flight; after restart ${outcomes.working} working, ${outcomes.invalidGrant} invalid_grant)`,
      );
  });
});

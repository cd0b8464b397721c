// One connection factory for both deployments: PostgreSQL through knex's `pg`
// client when DATABASE_URL is set, otherwise embedded PGlite spoken to through
// the same `pg` client (PGlite's node-postgres adapter), so both modes share
// one dialect and return the same JavaScript types.
import fs from 'node:fs';
import type { Socket } from 'node:net';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { createPgConfig } from '@electric-sql/pglite/node-postgres';
import { acquireDirectoryLock, type DirectoryLock } from './directory-lock.ts';
import { migrationConfig } from './migrator.ts';

// BIGINT (int8) columns such as revocation cursors arrive as strings by
// default; every id we store fits comfortably in a double.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));

export type NotificationHandler = (payload: string) => void;

export interface Database {
  knex: Knex;
  kind: 'postgres' | 'pglite';
  /** Subscribe to a Postgres NOTIFY channel; resolves once LISTEN is active. */
  listen(channel: string, handler: NotificationHandler): Promise<() => Promise<void>>;
  /** Runs pending migrations. */
  migrate(): Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** postgres://… URL; when absent the embedded PGlite database is used. */
  databaseUrl?: string | undefined;
  /** Directory of the embedded database; `memory://` keeps it in memory. */
  dataDir?: string | undefined;
  poolMax?: number | undefined;
  /**
   * A pooled PostgreSQL connection with no traffic in either direction for this
   * long is destroyed. A partitioned network (packets dropped, no reset) would
   * otherwise hang a query, and its pooled connection, until TCP gives up many
   * minutes later. Default 15 s; our queries are short.
   */
  stallTimeoutMs?: number | undefined;
  /** Where knex's own messages go (default: the console), e.g. to silence its warnings in a CLI that reports failures itself. */
  knexLog?: Knex.Config['log'];
}

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  return options.databaseUrl
    ? openPostgres(options.databaseUrl, options.poolMax ?? 10, options.stallTimeoutMs ?? 15_000, options.knexLog)
    : openPglite(options.dataDir ?? './data');
}

interface PooledPgClient {
  connection?: { stream?: Socket };
}

function openPostgres(url: string, poolMax: number, stallTimeoutMs: number, knexLog: Knex.Config['log']): Database {
  const listeners = new Set<() => Promise<void>>();
  const knex = knexFactory({
    client: 'pg',
    connection: { connectionString: url, keepAlive: true, connectionTimeoutMillis: 5_000 },
    pool: {
      min: 0,
      max: poolMax,
      afterCreate(client: PooledPgClient, done: (error: Error | null, client: PooledPgClient) => void) {
        const socket = client.connection?.stream;
        // Destroying the socket makes pg emit an error, which makes knex discard the
        // connection; the waiting query fails and the request answers 503.
        socket?.setTimeout(stallTimeoutMs, () => socket.destroy(new Error('database connection stalled')));
        done(null, client);
      },
    },
    acquireConnectionTimeout: 10_000,
    ...(knexLog ? { log: knexLog } : {}),
    ...migrationConfig,
  });
  return {
    knex,
    kind: 'postgres',
    async listen(channel, handler) {
      const stop = await listenOnPostgres(url, channel, handler);
      const unlisten = async (): Promise<void> => {
        listeners.delete(unlisten);
        await stop();
      };
      listeners.add(unlisten);
      return unlisten;
    },
    migrate: () => knex.migrate.latest().then(() => undefined),
    async close() {
      await Promise.all([...listeners].map((unlisten) => unlisten()));
      await knex.destroy();
    },
  };
}

/**
 * LISTEN needs a connection of its own that stays open; a pooled connection
 * would be handed to other queries. Reconnects after a drop and keeps going
 * until the returned function is called.
 */
async function listenOnPostgres(url: string, channel: string, handler: NotificationHandler): Promise<() => Promise<void>> {
  let client: pg.Client | undefined;
  let stopped = false;
  let retryTimer: NodeJS.Timeout | undefined;

  const connect = async (): Promise<void> => {
    // keepAlive: a LISTEN connection is idle by nature, so only TCP probes notice it died.
    const next = new pg.Client({ connectionString: url, keepAlive: true, connectionTimeoutMillis: 5_000 });
    next.on('notification', (message) => {
      if (message.channel === channel) handler(message.payload ?? '');
    });
    next.on('error', () => scheduleReconnect());
    next.on('end', () => scheduleReconnect());
    await next.connect();
    await next.query(`LISTEN ${quoteIdentifier(channel)}`);
    client = next;
  };
  const scheduleReconnect = (): void => {
    if (stopped || retryTimer) return;
    client?.removeAllListeners();
    client = undefined;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      connect().catch(() => scheduleReconnect());
    }, 500);
  };

  await connect();
  return async () => {
    stopped = true;
    if (retryTimer) clearTimeout(retryTimer);
    const current = client;
    client = undefined;
    if (!current) return;
    current.removeAllListeners();
    current.on('error', () => undefined);
    // end() waits for the server's goodbye, which a dead or partitioned
    // connection never sends: give it a moment, then drop the socket.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      current.end().catch(() => undefined),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 1_000);
      }),
    ]);
    clearTimeout(timer);
    (current as unknown as PooledPgClient).connection?.stream?.destroy();
  };
}

// initdb takes seconds; loading a snapshot of its result takes a fraction of that. A process that opens
// many in-memory databases (the test suites open one per suite) runs initdb once and starts each from it.
let pristineClusterSnapshot: Promise<Blob> | undefined;

function pristineCluster(): Promise<Blob> {
  if (!pristineClusterSnapshot) {
    const snapshot = (async () => {
      const pglite = await PGlite.create();
      try {
        return await pglite.dumpDataDir('none');
      } finally {
        await pglite.close();
      }
    })();
    // A failure is reported to this caller and retried by the next, never cached.
    snapshot.catch(() => {
      if (pristineClusterSnapshot === snapshot) pristineClusterSnapshot = undefined;
    });
    pristineClusterSnapshot = snapshot;
  }
  return pristineClusterSnapshot;
}

async function openPglite(dataDir: string): Promise<Database> {
  const inMemory = dataDir.startsWith('memory://');
  let lock: DirectoryLock | undefined;
  if (!inMemory) {
    // PGlite creates only the last directory level.
    fs.mkdirSync(path.dirname(path.resolve(dataDir)), { recursive: true });
    lock = acquireDirectoryLock(dataDir);
  }
  let pglite: PGlite;
  try {
    pglite = inMemory ? await PGlite.create({ loadDataDir: await pristineCluster() }) : await PGlite.create(dataDir);
  } catch (error) {
    lock?.release();
    throw error;
  }
  const knex = knexFactory({
    client: 'pg',
    connection: createPgConfig(pglite) as unknown as Knex.StaticConnectionConfig,
    // PGlite is a single connection; a second pooled client would interleave
    // statements of different transactions on it.
    pool: { min: 1, max: 1, idleTimeoutMillis: 2_147_483_647 },
    acquireConnectionTimeout: 60_000,
    ...migrationConfig,
  });
  return {
    knex,
    kind: 'pglite',
    async listen(channel, handler) {
      const unsubscribe = await pglite.listen(channel, handler);
      return async () => {
        await unsubscribe();
      };
    },
    migrate: () => knex.migrate.latest().then(() => undefined),
    async close() {
      await knex.destroy();
      await pglite.close();
      lock?.release();
    },
  };
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

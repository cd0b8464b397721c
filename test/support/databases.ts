// Each suite gets a fresh database: in-memory PGlite by default, or a new
// PostgreSQL database created from TEST_DATABASE_URL (dropped afterwards).
import pg from 'pg';

export interface TestDatabase {
  /** Environment for the token service: DATABASE_URL or DATA_DIR. */
  env: Record<string, string>;
  kind: 'postgres' | 'pglite';
  drop(): Promise<void>;
}

let counter = 0;

export const testDatabaseUrl = (): string | undefined => process.env.TEST_DATABASE_URL || undefined;

export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = testDatabaseUrl();
  if (!adminUrl) return { env: { DATA_DIR: 'memory://' }, kind: 'pglite', drop: async () => undefined };
  counter += 1;
  const name = `authority_test_${process.pid}_${Date.now().toString(36)}_${counter}`;
  await withAdmin(adminUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    env: { DATABASE_URL: url.toString() },
    kind: 'postgres',
    drop: () => withAdmin(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

async function withAdmin<T>(url: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

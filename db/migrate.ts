// `npm run migrate`: applies pending migrations to DATABASE_URL, or to the
// embedded database in DATA_DIR.
import { openDatabase } from './connection.ts';

const db = await openDatabase({ databaseUrl: process.env.DATABASE_URL, dataDir: process.env.DATA_DIR });
try {
  const [, applied] = (await db.knex.migrate.latest()) as [number, string[]];
  console.log(applied.length ? `Applied ${applied.join(', ')}` : 'Already up to date');
} finally {
  await db.close();
}

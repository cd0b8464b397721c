import type { Knex } from 'knex';
import { canonicalIdentifier } from '../identifiers.ts';

// Usernames and e-mail addresses get canonical columns (db/identifiers.ts),
// backfilled here in JavaScript with the same function the service uses, and
// uniqueness moves to them: the lower() indexes of 0001 followed the
// database's locale, which disagreed with JavaScript's lower-case.
const BATCH = 1000;

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('users', (t) => {
    t.text('username_canonical');
    t.text('email_canonical');
  });
  for (let after = ''; ;) {
    const rows: Array<{ id: string; username: string; email: string }> = await knex('users')
      .where('id', '>', after || '00000000-0000-0000-0000-000000000000')
      .orderBy('id')
      .limit(BATCH)
      .select('id', 'username', 'email');
    for (const row of rows) {
      await knex('users')
        .where({ id: row.id })
        .update({ username_canonical: canonicalIdentifier(row.username), email_canonical: canonicalIdentifier(row.email) });
    }
    if (rows.length < BATCH) break;
    after = (rows.at(-1) as { id: string }).id;
  }
  for (const column of ['username_canonical', 'email_canonical']) {
    const clashes: Array<{ value: string; ids: string[] }> = (
      await knex.raw(`SELECT ${column} AS value, array_agg(id::text) AS ids FROM users GROUP BY ${column} HAVING count(*) > 1`)
    ).rows;
    if (clashes.length > 0) {
      const list = clashes.map((c) => `"${c.value}": users ${c.ids.join(', ')}`).join('; ');
      throw new Error(`users share a canonical ${column.replace('_canonical', '')} (rename or merge them, then migrate again): ${list}`);
    }
  }
  await knex.raw('ALTER TABLE users ALTER COLUMN username_canonical SET NOT NULL, ALTER COLUMN email_canonical SET NOT NULL');
  await knex.raw('CREATE UNIQUE INDEX users_username_canonical ON users (username_canonical)');
  await knex.raw('CREATE UNIQUE INDEX users_email_canonical ON users (email_canonical)');
  await knex.raw('DROP INDEX users_username_lower');
  await knex.raw('DROP INDEX users_email_lower');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('CREATE UNIQUE INDEX users_username_lower ON users (lower(username))');
  await knex.raw('CREATE UNIQUE INDEX users_email_lower ON users (lower(email))');
  await knex.schema.alterTable('users', (t) => {
    t.dropColumn('username_canonical');
    t.dropColumn('email_canonical');
  });
}

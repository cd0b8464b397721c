// Migrations are listed in code rather than discovered on disk, so they run the
// same way under tsx, in the compiled container image and from the CLI.
import type { Knex } from 'knex';
import * as initial from './migrations/0001_initial.ts';
import * as loginThrottles from './migrations/0002_login_throttles.ts';
import * as canonicalIdentifiers from './migrations/0003_canonical_identifiers.ts';
import * as loginDevices from './migrations/0004_login_devices.ts';
import * as clientIdsNotUuids from './migrations/0005_client_ids_not_uuids.ts';
import * as userTokensValidAfter from './migrations/0006_user_tokens_valid_after.ts';
import * as refreshRotationFunction from './migrations/0007_refresh_rotation_function.ts';
import * as browserSignIn from './migrations/0008_browser_sign_in.ts';

interface Migration {
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

const migrations: Record<string, Migration> = {
  '0001_initial': initial,
  '0002_login_throttles': loginThrottles,
  '0003_canonical_identifiers': canonicalIdentifiers,
  '0004_login_devices': loginDevices,
  '0005_client_ids_not_uuids': clientIdsNotUuids,
  '0006_user_tokens_valid_after': userTokensValidAfter,
  '0007_refresh_rotation_function': refreshRotationFunction,
  '0008_browser_sign_in': browserSignIn,
};

class ListedMigrations implements Knex.MigrationSource<string> {
  async getMigrations(): Promise<string[]> {
    return Object.keys(migrations).sort();
  }
  getMigrationName(name: string): string {
    return name;
  }
  async getMigration(name: string): Promise<Migration> {
    const migration = migrations[name];
    if (!migration) throw new Error(`Unknown migration ${name}`);
    return migration;
  }
}

export const migrationConfig = {
  migrations: { migrationSource: new ListedMigrations(), tableName: 'knex_migrations' },
} satisfies Partial<Knex.Config>;

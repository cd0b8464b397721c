// RSA signing keys live in the database so that every instance signs with the
// same key and publishes the same JWKS. The newest unretired key signs; retired
// keys stay published until every token they signed has expired.
import { createPrivateKey, type KeyObject } from 'node:crypto';
import type { Knex } from 'knex';
import * as jose from 'jose';
import type { Logger } from '../../../common/logger.ts';
import { SIGNING_ALGORITHM, type AccessTokenKeys } from '../helpers/access-tokens.ts';
import { decryptPrivateKey, encryptPrivateKey } from '../helpers/key-encryption.ts';

export const SIGNING_KEYS_CHANNEL = 'signing_keys';
const MODULUS_LENGTH = 2048;
// Advisory lock id: serialises key creation and rotation across instances.
const KEY_LOCK_ID = 424242;

interface SigningKeyRow {
  kid: string;
  algorithm: string;
  public_jwk: jose.JWK;
  private_key: string;
  private_key_encrypted: boolean;
  created_at: Date;
  retired_at: Date | null;
  expires_at: Date | null;
}

export interface SigningKeySummary {
  kid: string;
  created_at: string;
  retired_at: string | null;
  expires_at: string | null;
  active: boolean;
}

interface LoadedKeys {
  signer: { kid: string; privateKey: KeyObject };
  publicKeys: Map<string, jose.CryptoKey>;
  jwks: { keys: jose.JWK[] };
}

export interface SigningKeysOptions {
  encryptionKey: Buffer | undefined;
  /** Retired keys stay published this long (the access-token lifetime plus margin). */
  retiredKeyLifetimeMs: number;
  logger: Logger;
}

export class SigningKeys implements AccessTokenKeys {
  private loaded: LoadedKeys | undefined;

  constructor(
    private readonly knex: Knex,
    private readonly options: SigningKeysOptions,
  ) {}

  /** Creates the first key if there is none, then loads the keys. */
  async init(): Promise<void> {
    await this.knex.transaction(async (trx) => {
      await trx.raw('SELECT pg_advisory_xact_lock(?)', [KEY_LOCK_ID]);
      const active = await trx('signing_keys').whereNull('retired_at').first('kid');
      if (!active) await this.insertNewKey(trx);
    });
    await this.reload();
  }

  /** Re-reads the keys (after a rotation by this or another instance). */
  async reload(): Promise<void> {
    const rows: SigningKeyRow[] = await this.knex('signing_keys')
      .where((q) => q.whereNull('expires_at').orWhere('expires_at', '>', this.knex.fn.now()))
      .orderBy('created_at', 'desc');
    const activeRow = rows.find((row) => row.retired_at === null);
    if (!activeRow) throw new Error('no active signing key; run the service once to create one');
    const publicKeys = new Map<string, jose.CryptoKey>();
    for (const row of rows) {
      publicKeys.set(row.kid, (await jose.importJWK(row.public_jwk, SIGNING_ALGORITHM)) as jose.CryptoKey);
    }
    const pem = this.readPrivateKey(activeRow);
    this.loaded = {
      // A node:crypto KeyObject, parsed once: helpers/access-tokens.ts signs with it on the thread pool.
      signer: { kid: activeRow.kid, privateKey: createPrivateKey(pem) },
      publicKeys,
      jwks: { keys: rows.map((row) => ({ ...row.public_jwk, kid: row.kid, alg: SIGNING_ALGORITHM, use: 'sig' })) },
    };
  }

  /** A new key becomes the signer; the old one is retired but stays published. */
  async rotate(): Promise<{ kid: string; retired: string[] }> {
    const result = await this.knex.transaction(async (trx) => {
      await trx.raw('SELECT pg_advisory_xact_lock(?)', [KEY_LOCK_ID]);
      const retired: Array<{ kid: string }> = await trx('signing_keys')
        .whereNull('retired_at')
        .update({
          retired_at: trx.fn.now(),
          expires_at: new Date(Date.now() + this.options.retiredKeyLifetimeMs),
        })
        .returning('kid');
      const kid = await this.insertNewKey(trx);
      await trx.raw('SELECT pg_notify(?, ?)', [SIGNING_KEYS_CHANNEL, kid]);
      return { kid, retired: retired.map((row) => row.kid) };
    });
    await this.reload();
    return result;
  }

  async list(): Promise<SigningKeySummary[]> {
    const rows: SigningKeyRow[] = await this.knex('signing_keys').orderBy('created_at', 'desc');
    return rows.map((row) => ({
      kid: row.kid,
      created_at: row.created_at.toISOString(),
      retired_at: row.retired_at?.toISOString() ?? null,
      expires_at: row.expires_at?.toISOString() ?? null,
      active: row.retired_at === null,
    }));
  }

  get signer(): LoadedKeys['signer'] {
    return this.current().signer;
  }

  publicKey(kid: string): jose.CryptoKey | undefined {
    return this.current().publicKeys.get(kid);
  }

  get jwks(): { keys: jose.JWK[] } {
    return this.current().jwks;
  }

  private current(): LoadedKeys {
    if (!this.loaded) throw new Error('signing keys are not loaded; call init() first');
    return this.loaded;
  }

  private async insertNewKey(trx: Knex.Transaction): Promise<string> {
    const { publicKey, privateKey } = await jose.generateKeyPair(SIGNING_ALGORITHM, {
      modulusLength: MODULUS_LENGTH,
      extractable: true,
    });
    const publicJwk = await jose.exportJWK(publicKey);
    const kid = await jose.calculateJwkThumbprint(publicJwk);
    const pem = await jose.exportPKCS8(privateKey);
    const key = this.options.encryptionKey;
    await trx('signing_keys').insert({
      kid,
      algorithm: SIGNING_ALGORITHM,
      public_jwk: JSON.stringify({ kty: publicJwk.kty, n: publicJwk.n, e: publicJwk.e }),
      private_key: key ? encryptPrivateKey(pem, key, kid) : pem,
      private_key_encrypted: key !== undefined,
    });
    this.options.logger.info({ kid }, 'created a signing key');
    return kid;
  }

  private readPrivateKey(row: SigningKeyRow): string {
    if (!row.private_key_encrypted) return row.private_key;
    const key = this.options.encryptionKey;
    if (!key) throw new Error(`signing key ${row.kid} is encrypted: set KEY_ENCRYPTION_KEY to the key it was stored with`);
    return decryptPrivateKey(row.private_key, key, row.kid);
  }
}

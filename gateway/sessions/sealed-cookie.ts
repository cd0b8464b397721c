// Cookie values only the gateway can read or write: AES-256-GCM with a random
// 96-bit nonce, the cookie's name as additional data (a value sealed for one
// cookie never opens as another), and a key list so that keys rotate without
// signing anyone out: the first key seals, every key opens, and a key removed
// from the list stops opening what it sealed.
//
//   value = "v1." key id (8 hex) "." base64url(nonce ‖ ciphertext ‖ tag)
import crypto from 'node:crypto';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;

interface Key {
  id: string;
  secret: Buffer;
}

/** A key's public id: the first 4 bytes of its SHA-256 (it says which key, never what it is). */
const keyId = (secret: Buffer): string => crypto.createHash('sha256').update(secret).digest('hex').slice(0, 8);

export class CookieSealer {
  readonly #sealing: Key;
  readonly #opening: ReadonlyMap<string, Key>;

  /** `keys`: 32-byte secrets, newest first. */
  constructor(keys: readonly Buffer[]) {
    const [first] = keys;
    if (!first) throw new Error('at least one cookie key is needed');
    for (const key of keys) if (key.length !== 32) throw new Error('cookie keys are 32 bytes');
    const all = keys.map((secret) => ({ id: keyId(secret), secret }));
    this.#sealing = all[0] as Key;
    this.#opening = new Map(all.map((key) => [key.id, key]));
  }

  seal(cookieName: string, plaintext: string): string {
    const nonce = crypto.randomBytes(NONCE_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.#sealing.secret, nonce);
    cipher.setAAD(Buffer.from(cookieName));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `v1.${this.#sealing.id}.${Buffer.concat([nonce, ciphertext, cipher.getAuthTag()]).toString('base64url')}`;
  }

  /** The plaintext, or undefined for anything we did not seal for this cookie with a key still listed. */
  open(cookieName: string, value: string): string | undefined {
    if (value.length > 8192 || !value.startsWith('v1.')) return undefined;
    const key = this.#opening.get(value.slice(3, 11));
    if (!key || value[11] !== '.') return undefined;
    const sealed = Buffer.from(value.slice(12), 'base64url');
    if (sealed.length < NONCE_BYTES + TAG_BYTES) return undefined;
    try {
      const decipher = crypto.createDecipheriv('aes-256-gcm', key.secret, sealed.subarray(0, NONCE_BYTES));
      decipher.setAAD(Buffer.from(cookieName));
      decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      return Buffer.concat([decipher.update(sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }
}

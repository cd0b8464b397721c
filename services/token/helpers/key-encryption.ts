// Private signing keys at rest: AES-256-GCM under KEY_ENCRYPTION_KEY.
import crypto from 'node:crypto';

const VERSION = 'aes256gcm-v1';

export function encryptPrivateKey(pem: string, key: Buffer, kid: string): string {
  const iv = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv('aes-256-gcm', key, iv);
  // Binding the kid as associated data stops an attacker with database access
  // from swapping encrypted keys between rows.
  cipher.setAAD(Buffer.from(kid));
  const ciphertext = Buffer.concat([cipher.update(pem, 'utf8'), cipher.final()]);
  return [VERSION, iv, cipher.getAuthTag(), ciphertext]
    .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
    .join('.');
}

export function decryptPrivateKey(envelope: string, key: Buffer, kid: string): string {
  const [version, iv, tag, ciphertext] = envelope.split('.');
  if (version !== VERSION || !iv || !tag || !ciphertext) throw new Error(`signing key ${kid}: unknown encryption envelope`);
  const decipher = crypto.createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
  decipher.setAAD(Buffer.from(kid));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  try {
    return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    throw new Error(`signing key ${kid}: cannot decrypt the private key; is KEY_ENCRYPTION_KEY the one it was stored with?`);
  }
}

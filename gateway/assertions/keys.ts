// The keys of the gateway's identity assertions: one signer (a private key
// from GATEWAY_ASSERTION_KEY or _FILE, or, in development, generated at start)
// and the public keys published at /.well-known/gateway-jwks.json: the
// signer's, plus any of GATEWAY_ASSERTION_PUBLISHED_KEYS_FILE for a rotation.
import crypto, { type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { ConfigError } from '../../common/env.ts';
import type { Logger } from '../../common/logger.ts';
import { assertionKeyProblems, type GatewayConfig } from '../config.ts';

/** An RSA public key as a JWKS lists it (RFC 7517), `kid` its RFC 7638 thumbprint. */
export interface PublishedKey {
  kty: 'RSA';
  n: string;
  e: string;
  kid: string;
  alg: 'RS256';
  use: 'sig';
}

export interface AssertionKeys {
  readonly signer: { readonly kid: string; readonly privateKey: KeyObject };
  /** The JWKS document: the signer's public key first, then the other published ones. */
  readonly jwks: { readonly keys: readonly PublishedKey[] };
}

const MIN_MODULUS_BITS = 2048;
const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]+?-----END \1-----/g;
const generateKeyPair = promisify(crypto.generateKeyPair);

// One development key per process: every gateway a test starts in-process
// shares it, instead of each spending an RSA key generation.
let developmentKey: Promise<KeyObject> | undefined;

type KeySettings = Pick<GatewayConfig, 'assertion' | 'publicUrl' | 'assertionKey' | 'assertionKeyFile' | 'assertionPublishedKeysFile'>;

/** The configured keys; ConfigError (naming the variable) for a missing or unusable one. */
export async function loadAssertionKeys(settings: KeySettings, logger?: Logger): Promise<AssertionKeys> {
  const problems = assertionKeyProblems(settings);
  if (problems.length > 0) throw new ConfigError(problems);
  let privateKey: KeyObject;
  if (settings.assertionKey !== undefined) {
    privateKey = parsePrivateKey(settings.assertionKey, 'GATEWAY_ASSERTION_KEY');
  } else if (settings.assertionKeyFile !== undefined) {
    privateKey = parsePrivateKey(readKeyFile(settings.assertionKeyFile, 'GATEWAY_ASSERTION_KEY_FILE'), 'GATEWAY_ASSERTION_KEY_FILE');
  } else {
    developmentKey ??= generateKeyPair('rsa', { modulusLength: MIN_MODULUS_BITS }).then(({ privateKey: key }) => key);
    privateKey = await developmentKey;
    logger?.info('assertion key generated at start (development: set GATEWAY_ASSERTION_KEY anywhere else)');
  }
  const signer = publishedKey(crypto.createPublicKey(privateKey));
  const others =
    settings.assertionPublishedKeysFile === undefined
      ? []
      : parsePublicKeys(
          readKeyFile(settings.assertionPublishedKeysFile, 'GATEWAY_ASSERTION_PUBLISHED_KEYS_FILE'),
          'GATEWAY_ASSERTION_PUBLISHED_KEYS_FILE',
        ).map(publishedKey);
  const keys = [signer, ...others.filter((key, i) => key.kid !== signer.kid && others.findIndex((k) => k.kid === key.kid) === i)];
  return { signer: { kid: signer.kid, privateKey }, jwks: { keys } };
}

function readKeyFile(path: string, variable: string): string {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError([`${variable}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
}

function parsePrivateKey(pem: string, variable: string): KeyObject {
  let key: KeyObject;
  try {
    // A PEM in an environment variable often arrives with its line breaks escaped.
    key = crypto.createPrivateKey(pem.includes('\n') ? pem : pem.replaceAll('\\n', '\n'));
  } catch {
    // Never the key's text in the message: it is a secret.
    throw new ConfigError([`${variable}: not a PEM private key`]);
  }
  checkRsa(key, variable);
  return key;
}

function parsePublicKeys(pem: string, variable: string): KeyObject[] {
  const blocks = pem.match(PEM_BLOCK) ?? [];
  if (blocks.length === 0) throw new ConfigError([`${variable}: no PEM key in the file`]);
  return blocks.map((block) => {
    let key: KeyObject;
    try {
      key = crypto.createPublicKey(block);
    } catch {
      throw new ConfigError([`${variable}: a PEM block is not an RSA key`]);
    }
    checkRsa(key, variable);
    return key;
  });
}

function checkRsa(key: KeyObject, variable: string): void {
  if (key.asymmetricKeyType !== 'rsa' || (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_MODULUS_BITS) {
    throw new ConfigError([`${variable}: expected an RSA key of ${MIN_MODULUS_BITS} bits or more (RS256)`]);
  }
}

function publishedKey(publicKey: KeyObject): PublishedKey {
  const { n, e } = publicKey.export({ format: 'jwk' });
  if (typeof n !== 'string' || typeof e !== 'string') throw new ConfigError(['assertion key: not an RSA key']);
  // RFC 7638: SHA-256 of the required members in lexicographic order, no whitespace.
  const kid = crypto
    .createHash('sha256')
    .update(JSON.stringify({ e, kty: 'RSA', n }))
    .digest('base64url');
  return { kty: 'RSA', n, e, kid, alg: 'RS256', use: 'sig' };
}

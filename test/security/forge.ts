// Hand-made JWTs for attack tests: every header and byte under the test's
// control (jose refuses to produce most of these), signed with the real key,
// an attacker's key, an HMAC secret, or nothing.
import crypto, { type KeyObject } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export const b64url = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

export type Header = Record<string, unknown>;
export type Payload = Record<string, unknown>;

/** RS256 (RSASSA-PKCS1-v1_5 with SHA-256) over exactly these header and payload bytes. */
export function signRs256(header: Header, payload: Payload, privateKey: KeyObject): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${crypto.sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}

/** HS256 with an arbitrary secret (the "public key as HMAC secret" confusion attack). */
export function signHs256(header: Header, payload: Payload, secret: crypto.BinaryLike): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/** An unsigned JWS: header and payload, with the given (possibly empty) signature segment. */
export function unsigned(header: Header, payload: Payload, signature = ''): string {
  return `${b64url(header)}.${b64url(payload)}.${signature}`;
}

export interface AttackerKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
  jwk: crypto.JsonWebKey & { kid: string };
  kid: string;
}

export function attackerKey(kid = `attacker-${crypto.randomUUID()}`): AttackerKey {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  return { privateKey, publicKey, jwk, kid };
}

/** A server the attacker controls, serving a JWKS with their key; counts every request it gets. */
export interface AttackerServer {
  url: string;
  hits: number;
  close(): Promise<void>;
}

export async function startAttackerServer(key: AttackerKey): Promise<AttackerServer> {
  const state = { hits: 0 };
  const server = http.createServer((_req, res) => {
    state.hits += 1;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [key.jwk] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get hits() {
      return state.hits;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

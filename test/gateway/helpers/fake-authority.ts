// A stand-in for the token service that follows docs/WIRE-CONTRACT.md and
// nothing more: RFC 8414 metadata, a JWKS, RS256 at+jwt access tokens signed
// with keys generated here, and the revocation catch-up endpoint and SSE
// stream. Lets the gateway be tested without the token service's code.
import { createHmac, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { createLogger, type Logger } from '../../../common/logger.ts';
import type { RevocationEntry } from '../../../contract/revocations.ts';
import { discoverIssuer } from '../../../gateway/keys/discovery.ts';
import { KeyStore } from '../../../gateway/keys/key-store.ts';
import type { FollowedAuthority } from '../../support/gateway.ts';

export const FEED_CLIENT = { id: 'gateway-test', secret: 'test-gateway-secret-0123456789abcdef' };

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  /** Left out of the JWKS: tokens signed with it carry a kid the gateway cannot find. */
  published: boolean;
}

export interface StreamRequest {
  lastEventId: string | undefined;
  authorization: string | undefined;
}

export interface FakeAuthorityOptions {
  /** Sent as the stream's `retry:` field. */
  retryMs?: number;
  /** Leave the revocation endpoints out of the metadata (the gateway must then guess them). */
  omitFeedMetadata?: boolean;
}

export function testLogger(): Logger {
  return createLogger({ name: 'gateway-test', level: process.env.TEST_LOG_LEVEL ?? 'silent', destination: process.stderr });
}

const b64url = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

export class FakeAuthority {
  url = '';
  readonly log: RevocationEntry[] = [];
  readonly streamRequests: StreamRequest[] = [];
  readonly catchUpRequests: string[] = [];
  jwksFetches = 0;
  /** While false the revocation endpoints answer 503 (the feed is "down"). */
  feedAvailable = true;
  #keys: SigningKey[] = [];
  readonly #streams = new Set<http.ServerResponse>();
  readonly #server: http.Server;
  readonly #options: FakeAuthorityOptions;

  private constructor(options: FakeAuthorityOptions) {
    this.#options = options;
    this.#server = http.createServer((req, res) => this.#handle(req, res));
  }

  static async start(options: FakeAuthorityOptions = {}): Promise<FakeAuthority> {
    const authority = new FakeAuthority(options);
    await authority.addKey();
    await new Promise<void>((resolve) => authority.#server.listen(0, '127.0.0.1', resolve));
    authority.url = `http://127.0.0.1:${(authority.#server.address() as AddressInfo).port}`;
    return authority;
  }

  /** This authority as a gateway follows it (startTestGateway): its issuer, and the feed client it accepts. */
  get followed(): FollowedAuthority {
    return { issuer: this.url, client: FEED_CLIENT };
  }

  /** The newest published key: the signer of tokens by default. */
  get currentKid(): string {
    return (this.#keys.filter((k) => k.published).at(-1) as SigningKey).kid;
  }

  get openStreams(): number {
    return this.#streams.size;
  }

  /** A new signing key; published in the JWKS unless `publish` is false. */
  async addKey(publish = true): Promise<string> {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    const kid = `k-${randomUUID().slice(0, 8)}`;
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
    this.#keys.push({ kid, privateKey, publicJwk, published: publish });
    return kid;
  }

  /** Default claims of a valid access token, for tests to override. */
  claims(overrides: JWTPayload = {}): JWTPayload {
    const now = Math.floor(Date.now() / 1000);
    return {
      iss: this.url,
      sub: 'user-1',
      aud: ['whoami', 'notes'],
      client_id: 'web',
      scope: 'notes:read notes:write',
      iat: now,
      exp: now + 300,
      jti: randomUUID(),
      sid: randomUUID(),
      ...overrides,
    };
  }

  /** Signs an access token; header and key can be overridden to make bad ones. */
  async token(overrides: JWTPayload = {}, header: Record<string, unknown> = {}, kid = this.currentKid): Promise<string> {
    const key = this.#keys.find((k) => k.kid === kid);
    if (!key) throw new Error(`no key ${kid}`);
    const payload = this.claims(overrides);
    for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
    const protectedHeader = { alg: 'RS256', typ: 'at+jwt', kid, ...header };
    const crit = Array.isArray(header.crit) ? Object.fromEntries((header.crit as string[]).map((c) => [c, true])) : undefined;
    return new SignJWT(payload).setProtectedHeader(protectedHeader as { alg: string }).sign(key.privateKey, crit ? { crit } : {});
  }

  /** An HS256 token "signed" with a guessable secret, or an unsigned alg=none one. */
  forgedToken(alg: 'HS256' | 'none', overrides: JWTPayload = {}): string {
    const input = `${b64url({ alg, typ: 'at+jwt', kid: this.currentKid })}.${b64url(this.claims(overrides))}`;
    if (alg === 'none') return `${input}.`;
    return `${input}.${createHmac('sha256', JSON.stringify(this.#keys[0]?.publicJwk)).update(input).digest('base64url')}`;
  }

  /** Appends to the revocation log and pushes the entry to every open stream. */
  revoke(kind: RevocationEntry['kind'], key: string, options: { notBefore?: Date; expiresInSec?: number } = {}): RevocationEntry {
    const entry: RevocationEntry = {
      id: (this.log.at(-1)?.id ?? 0) + 1,
      kind,
      key,
      not_before: options.notBefore ? options.notBefore.toISOString() : null,
      expires_at: new Date(Date.now() + (options.expiresInSec ?? 300) * 1000).toISOString(),
    };
    this.log.push(entry);
    for (const stream of this.#streams) stream.write(`id: ${entry.id}\nevent: revocation\ndata: ${JSON.stringify(entry)}\n\n`);
    return entry;
  }

  /** Appends to the log without telling open streams (as if the NOTIFY were lost). */
  revokeSilently(kind: RevocationEntry['kind'], key: string): RevocationEntry {
    const streams = [...this.#streams];
    this.#streams.clear();
    try {
      return this.revoke(kind, key);
    } finally {
      for (const stream of streams) this.#streams.add(stream);
    }
  }

  /** A gateway key store that follows this authority's JWKS, found by discovery (close it after use). */
  async keyStore(): Promise<KeyStore> {
    const keys = new KeyStore({ refetchCooldownMs: 60_000, logger: testLogger() });
    await keys.start((await discoverIssuer(this.url)).jwksUri);
    return keys;
  }

  /** Cuts every open stream connection, as a token-service restart would. */
  dropStreams(): void {
    for (const stream of this.#streams) stream.destroy();
    this.#streams.clear();
  }

  async close(): Promise<void> {
    this.dropStreams();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  #authorized(req: http.IncomingMessage): boolean {
    const expected = `Basic ${Buffer.from(`${FEED_CLIENT.id}:${FEED_CLIENT.secret}`).toString('base64')}`;
    return req.headers.authorization === expected;
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    switch (url.pathname) {
      case '/.well-known/oauth-authorization-server':
        return this.#json(res, 200, {
          issuer: this.url,
          jwks_uri: `${this.url}/.well-known/jwks.json`,
          token_endpoint: `${this.url}/oauth/token`,
          ...(this.#options.omitFeedMetadata
            ? {}
            : {
                revocation_feed_endpoint: `${this.url}/revocations`,
                revocation_stream_endpoint: `${this.url}/revocations/stream`,
              }),
        });
      case '/.well-known/jwks.json':
        this.jwksFetches += 1;
        return this.#json(
          res,
          200,
          { keys: this.#keys.filter((k) => k.published).map((k) => k.publicJwk) },
          { 'cache-control': 'public, max-age=300' },
        );
      case '/revocations': {
        this.catchUpRequests.push(url.search);
        if (!this.#authorized(req)) return this.#json(res, 401, { error: 'invalid_client' });
        if (!this.feedAvailable) return this.#json(res, 503, { error: 'temporarily_unavailable' });
        const after = Number(url.searchParams.get('after') ?? 0);
        const limit = Number(url.searchParams.get('limit') ?? 5000);
        const live = this.log.filter((e) => e.id > after && Date.parse(e.expires_at) > Date.now());
        const page = live.slice(0, limit);
        return this.#json(res, 200, { revocations: page, cursor: page.at(-1)?.id ?? after, has_more: live.length > limit });
      }
      case '/revocations/stream': {
        const lastEventId = req.headers['last-event-id'] as string | undefined;
        this.streamRequests.push({ lastEventId, authorization: req.headers.authorization });
        if (!this.#authorized(req)) return this.#json(res, 401, { error: 'invalid_client' });
        if (!this.feedAvailable) return this.#json(res, 503, { error: 'temporarily_unavailable' });
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.write(`retry: ${this.#options.retryMs ?? 10}\n\n`);
        const after = lastEventId === undefined ? (this.log.at(-1)?.id ?? 0) : Number(lastEventId);
        for (const entry of this.log.filter((e) => e.id > after)) {
          res.write(`id: ${entry.id}\nevent: revocation\ndata: ${JSON.stringify(entry)}\n\n`);
        }
        res.write(`event: ready\ndata: ${JSON.stringify({ cursor: this.log.at(-1)?.id ?? 0 })}\n\n`);
        this.#streams.add(res);
        res.on('close', () => this.#streams.delete(res));
        return;
      }
      default:
        return this.#json(res, 404, { error: 'not_found' });
    }
  }
}

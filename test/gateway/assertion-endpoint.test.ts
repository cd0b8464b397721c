// The assembled gateway's identity assertion: the JWKS it publishes, the
// X-Auth-Assertion an upstream receives (plain and WebSocket) and verifies
// with jose against that JWKS, and the key settings (gateway/assertions/keys.ts).
import { expect } from 'chai';
import crypto from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as jose from 'jose';
import { WebSocket, WebSocketServer } from 'ws';
import { ConfigError } from '../../common/env.ts';
import { GATEWAY_ASSERTION_TYPE, GATEWAY_JWKS_PATH } from '../../contract/gateway-assertion.ts';
import type { Gateway } from '../../gateway/app.ts';
import { loadAssertionKeys } from '../../gateway/assertions/keys.ts';
import { loadConfig, type GatewayConfig } from '../../gateway/config.ts';
import { startTestGateway } from '../support/gateway.ts';
import { request } from '../support/http.ts';
import { FakeAuthority } from './helpers/fake-authority.ts';

const pem = (bits: number) =>
  crypto.generateKeyPairSync('rsa', { modulusLength: bits }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

/** The problems of a ConfigError thrown by `run`, joined. */
async function configProblems(run: () => unknown): Promise<string> {
  try {
    await run();
  } catch (error) {
    expect(error, String(error)).to.be.instanceOf(ConfigError);
    return (error as ConfigError).problems.join('\n');
  }
  throw new Error('no ConfigError');
}

describe('gateway: signed identity for upstreams', () => {
  let authority: FakeAuthority;
  let upstream: http.Server;
  let seen: IncomingHttpHeaders[];
  let gateway: Gateway;
  const routes = (upstreamUrl: string): GatewayConfig['routes'] => ({
    routes: [
      { id: 'echo', prefix: '/echo', upstream: upstreamUrl, auth: 'required', audience: 'whoami', websocket: true },
      { id: 'open', prefix: '/open', upstream: upstreamUrl, auth: 'none' },
    ],
  });
  const assertionOf = (headers: IncomingHttpHeaders | undefined) => headers?.['x-auth-assertion'] as string | undefined;

  before(async () => {
    authority = await FakeAuthority.start();
    seen = [];
    upstream = http.createServer((req, res) => {
      seen.push(req.headers);
      res.end('ok');
    });
    const wss = new WebSocketServer({ server: upstream });
    wss.on('connection', (socket, req) => {
      seen.push(req.headers);
      socket.close(1000);
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    gateway = await startTestGateway(authority.followed, { routes: routes(upstreamUrl) });
  });
  after(async () => {
    await gateway?.close();
    upstream?.closeAllConnections();
    upstream?.close();
    await authority?.close();
  });

  it('publishes its public keys, cacheable, and no private part', async () => {
    const reply = await request<{ keys: Array<Record<string, unknown>> }>(gateway.url, 'GET', GATEWAY_JWKS_PATH);
    expect(reply.status).to.equal(200);
    expect(reply.headers.get('cache-control')).to.equal('public, max-age=300');
    expect(reply.body.keys).to.have.length(1);
    const [key] = reply.body.keys;
    expect(key).to.include({ kty: 'RSA', alg: 'RS256', use: 'sig', kid: gateway.assertionKeys?.signer.kid });
    expect(Object.keys(key!).sort()).to.deep.equal(['alg', 'e', 'kid', 'kty', 'n', 'use']);
    expect((await request(gateway.url, 'POST', GATEWAY_JWKS_PATH)).status).to.equal(405);
  });

  it('sends the upstream an assertion that jose verifies with the gateway’s JWKS, in place of a forged one, signed once per token and route', async () => {
    const token = await authority.token({ sub: 'alice', scope: 'notes:read' });
    const forged = await new jose.SignJWT({ sub: 'root', sid: 'x', scope: 'admin' })
      .setProtectedHeader({ alg: 'HS256', typ: GATEWAY_ASSERTION_TYPE })
      .sign(new TextEncoder().encode('a guessable secret of 32 bytes!!'));
    const signaturesBefore = gateway.asserter!.stats.signatures;
    for (let i = 0; i < 3; i += 1) {
      const reply = await request(gateway.url, 'GET', '/echo/x', { token, headers: { 'x-auth-assertion': forged } });
      expect(reply.status).to.equal(200);
    }
    const assertions = seen.slice(-3).map(assertionOf);
    expect(assertions[0]).to.be.a('string').and.not.equal(forged);
    expect(new Set(assertions).size, 'the same assertion three times').to.equal(1);
    expect(gateway.asserter!.stats.signatures - signaturesBefore, 'one RSA signature for three requests').to.equal(1);
    const metrics = (await request(gateway.url, 'GET', '/metrics')).text;
    expect(metrics).to.include(`gateway_identity_assertions{result="signed"} ${gateway.asserter!.stats.signatures}`);
    expect(metrics).to.include(`gateway_identity_assertions{result="cache_hit"} ${gateway.asserter!.stats.cacheHits}`);

    const { payload, protectedHeader } = await jose.jwtVerify(
      assertions[0]!,
      jose.createRemoteJWKSet(new URL(`${gateway.url}${GATEWAY_JWKS_PATH}`)),
      { algorithms: ['RS256'], typ: GATEWAY_ASSERTION_TYPE, issuer: `http://localhost:${gateway.port}`, audience: 'echo' },
    );
    expect(protectedHeader.kid).to.equal(gateway.assertionKeys?.signer.kid);
    expect(payload).to.include({ sub: 'alice', scope: 'notes:read', client_id: 'web' });
    expect(payload.exp! - payload.iat!).to.be.at.most(60);
  });

  it('sends none on a public route, and one with a WebSocket upgrade', async () => {
    expect((await request(gateway.url, 'GET', '/open', { headers: { 'x-auth-assertion': 'forged' } })).status).to.equal(200);
    expect(seen.at(-1)).to.not.have.property('x-auth-assertion');

    const token = await authority.token({ sub: 'bob' });
    const socket = new WebSocket(`${gateway.url.replace('http', 'ws')}/echo/ws`, { headers: { authorization: `Bearer ${token}` } });
    await once(socket, 'close');
    const { payload } = await jose.jwtVerify(
      assertionOf(seen.at(-1))!,
      jose.createLocalJWKSet({ keys: [...gateway.assertionKeys!.jwks.keys] }),
      {
        algorithms: ['RS256'],
        audience: 'echo',
      },
    );
    expect(payload.sub).to.equal('bob');
  });

  it('sends none and publishes nothing when GATEWAY_ASSERTION is off', async () => {
    const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const off = await startTestGateway(authority.followed, { routes: routes(upstreamUrl), assertion: false });
    try {
      expect(off.asserter).to.equal(undefined);
      expect((await request(off.url, 'GET', GATEWAY_JWKS_PATH)).status).to.equal(404);
      const reply = await request(off.url, 'GET', '/echo', { token: await authority.token(), headers: { 'x-auth-assertion': 'forged' } });
      expect(reply.status).to.equal(200);
      expect(seen.at(-1)).to.not.have.property('x-auth-assertion');
    } finally {
      await off.close();
    }
  });
});

describe('gateway: assertion key settings', () => {
  const none = {
    assertion: true,
    publicUrl: undefined,
    assertionKey: undefined,
    assertionKeyFile: undefined,
    assertionPublishedKeysFile: undefined,
  };
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'assertion-keys-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('refuses to start outside development without a key, naming the variable, unless the assertion is off', async () => {
    const problems = await configProblems(() => loadConfig({ GATEWAY_PUBLIC_URL: 'https://gateway.example.com' }));
    expect(problems).to.include('GATEWAY_ASSERTION_KEY').and.include('GATEWAY_ASSERTION=false');
    expect(loadConfig({ GATEWAY_PUBLIC_URL: 'https://gateway.example.com', GATEWAY_ASSERTION: 'false' }).assertion).to.equal(false);
    expect(loadConfig({ GATEWAY_PUBLIC_URL: 'http://127.0.0.1:8080/' }).publicUrl, 'development, trailing slash dropped').to.equal(
      'http://127.0.0.1:8080',
    );
    expect(await configProblems(() => loadConfig({ GATEWAY_ASSERTION_KEY: pem(2048), GATEWAY_ASSERTION_KEY_FILE: '/k.pem' }))).to.include(
      'not both',
    );
    // In-process start with the same settings fails the same way, before listening.
    expect(await configProblems(() => loadAssertionKeys({ ...none, publicUrl: 'https://gateway.example.com' }))).to.include(
      'GATEWAY_ASSERTION_KEY',
    );
  });

  it('signs with the configured key (PEM text, escaped line breaks, or file) and publishes rotation keys next to it', async () => {
    const current = pem(2048);
    const previous = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    const next = pem(2048);
    const fromText = await loadAssertionKeys({ ...none, publicUrl: 'https://gateway.example.com', assertionKey: current });
    const escaped = await loadAssertionKeys({ ...none, assertionKey: current.replaceAll('\n', '\\n') });
    fs.writeFileSync(path.join(dir, 'current.pem'), current);
    fs.writeFileSync(
      path.join(dir, 'published.pem'),
      `${previous.publicKey.export({ type: 'spki', format: 'pem' }) as string}\n${next}\n${current}`,
    );
    const fromFile = await loadAssertionKeys({
      ...none,
      assertionKeyFile: path.join(dir, 'current.pem'),
      assertionPublishedKeysFile: path.join(dir, 'published.pem'),
    });
    expect(escaped.signer.kid).to.equal(fromText.signer.kid);
    expect(fromFile.signer.kid).to.equal(fromText.signer.kid);
    const kids = fromFile.jwks.keys.map((key) => key.kid);
    expect(kids, 'the signer first, each key once').to.have.length(3);
    expect(kids[0]).to.equal(fromText.signer.kid);
    expect(kids).to.include(await jose.calculateJwkThumbprint(previous.publicKey.export({ format: 'jwk' }) as jose.JWK));
    for (const key of fromFile.jwks.keys) expect(key).to.not.have.property('d');
  });

  it('refuses an unusable key, naming the variable and never quoting it', async () => {
    const junk = 'not-a-key-but-a-secret-value';
    const problems = await configProblems(() => loadAssertionKeys({ ...none, assertionKey: junk }));
    expect(problems).to.include('GATEWAY_ASSERTION_KEY').and.not.include(junk);
    expect(await configProblems(() => loadAssertionKeys({ ...none, assertionKey: pem(1024) }))).to.include('2048 bits');
    const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    expect(await configProblems(() => loadAssertionKeys({ ...none, assertionKey: ec }))).to.include('RSA');
    expect(await configProblems(() => loadAssertionKeys({ ...none, assertionKeyFile: path.join(dir, 'missing.pem') }))).to.include(
      'GATEWAY_ASSERTION_KEY_FILE: cannot read',
    );
    fs.writeFileSync(path.join(dir, 'empty.pem'), 'nothing here');
    expect(await configProblems(() => loadAssertionKeys({ ...none, assertionPublishedKeysFile: path.join(dir, 'empty.pem') }))).to.include(
      'GATEWAY_ASSERTION_PUBLISHED_KEYS_FILE',
    );
  });
});

// End to end: the demo apps take the caller from the gateway's signed
// assertion (X-Auth-Assertion), as under `npm start`. Reaching an app directly,
// past the gateway, with forged X-Auth-* headers (or a forged or replayed-
// elsewhere assertion) gets a 401; the same request through the gateway works.
import { expect } from 'chai';
import * as jose from 'jose';
import WebSocket from 'ws';
import { once } from 'node:events';
import { GATEWAY_ASSERTION_TYPE } from '../../contract/gateway-assertion.ts';
import { registerAndLogin, request } from '../support/http.ts';
import { startStack, type Stack } from '../support/stack.ts';

describe('end to end: signed identity for upstreams', () => {
  let stack: Stack;
  before(async function () {
    // A fresh token service creates its signing key: slow on a busy shared machine.
    this.timeout(60_000);
    stack = await startStack({ assertions: true });
  });
  after(() => stack?.stop());

  const forgedHeaders = (sub: string) => ({
    'x-auth-subject': sub,
    'x-auth-subject-type': 'user',
    'x-auth-scopes': 'notes:read notes:write admin',
    'x-auth-session': 'forged-session',
    'x-auth-client': 'web',
  });

  it('refuses a request that reaches an app directly with forged X-Auth-* headers, and serves it through the gateway', async () => {
    const { tokens, userId } = await registerAndLogin(stack.token.url);

    const direct = await request(stack.whoami.url, 'GET', '/whoami', { headers: forgedHeaders(userId) });
    expect(direct.status).to.equal(401);
    expect(direct.body).to.include({ error: 'unauthenticated' });
    const directNotes = await request(stack.notes.url, 'GET', '/notes', { headers: forgedHeaders(userId) });
    expect(directNotes.status).to.equal(401);

    const through = await request(stack.gateway.url, 'GET', '/whoami', { token: tokens.access_token, headers: forgedHeaders('root') });
    expect(through.status).to.equal(200);
    expect(through.body).to.include({ subject: userId, session: jose.decodeJwt(tokens.access_token).sid, assertion: 'verified' });
    const notes = await request(stack.gateway.url, 'GET', '/notes', { token: tokens.access_token });
    expect(notes.status).to.equal(200);
    expect(notes.body).to.deep.equal({ notes: [] });
  });

  it('refuses a forged assertion, and a genuine one made for another route', async () => {
    // Signed with a key of the attacker's own, kid and all: not in the gateway's JWKS.
    const { privateKey } = await jose.generateKeyPair('RS256');
    const now = Math.floor(Date.now() / 1000);
    const forged = await new jose.SignJWT({ sid: 's', scope: 'admin' })
      .setProtectedHeader({ alg: 'RS256', typ: GATEWAY_ASSERTION_TYPE, kid: stack.gateway.assertionKeys!.signer.kid })
      .setIssuer(`http://localhost:${stack.gateway.port}`)
      .setAudience('whoami')
      .setSubject('root')
      .setIssuedAt(now)
      .setExpirationTime(now + 60)
      .sign(privateKey);
    expect((await request(stack.whoami.url, 'GET', '/whoami', { headers: { 'x-auth-assertion': forged } })).status).to.equal(401);

    // A genuine assertion for the notes route, presented to whoami directly: wrong audience.
    const { tokens } = await registerAndLogin(stack.token.url);
    const forNotes = await stack.gateway.asserter!.assertionFor(
      stack.gateway.routes.routes.find((route) => route.id === 'notes-read')!,
      await stack.gateway.verifier.verify(tokens.access_token),
    );
    expect((await request(stack.whoami.url, 'GET', '/whoami', { headers: { 'x-auth-assertion': forNotes } })).status).to.equal(401);
    expect((await request(stack.notes.url, 'GET', '/notes', { headers: { 'x-auth-assertion': forNotes } })).status).to.equal(200);
  });

  it('lets a WebSocket through the gateway only, and keeps the anonymous public route working', async () => {
    const { tokens, userId } = await registerAndLogin(stack.token.url);
    const direct = new WebSocket(`${stack.whoami.url.replace('http', 'ws')}/whoami`, { headers: forgedHeaders(userId) });
    const [, response] = (await once(direct, 'unexpected-response')) as [unknown, { statusCode: number }];
    expect(response.statusCode).to.equal(401);
    direct.on('error', () => undefined); // terminating a refused handshake reports it
    direct.terminate();

    const socket = new WebSocket(`${stack.gateway.url.replace('http', 'ws')}/whoami`, {
      headers: { authorization: `Bearer ${tokens.access_token}` },
    });
    const [hello] = (await once(socket, 'message')) as [Buffer];
    expect(JSON.parse(hello.toString())).to.include({ type: 'hello', subject: userId, assertion: 'verified' });
    socket.close();

    const open = await request(stack.gateway.url, 'GET', '/public/x');
    expect(open.status).to.equal(200);
    expect(open.body).to.include({ subject: null, assertion: 'absent' });
  });
});

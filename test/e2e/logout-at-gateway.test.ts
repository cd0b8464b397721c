// End to end: real token service, real gateway, real demo apps, real HTTP.
import http from 'node:http';
import { expect } from 'chai';
import * as jose from 'jose';
import WebSocket from 'ws';
import { basic, login, refresh, registerAndLogin, request } from '../support/http.ts';
import { eventually, startStack, type Stack } from '../support/stack.ts';
import { DEMO_SERVICE_CLIENT } from '../support/token-service.ts';

describe('end to end: logout takes effect at the gateway', () => {
  let stack: Stack;
  let T: string; // token service
  let G: string; // gateway
  let slowUpstream: http.Server;
  before(async () => {
    slowUpstream = http.createServer((_req, res) => setTimeout(() => res.end('late'), 2000));
    await new Promise<void>((resolve) => slowUpstream.listen(0, '127.0.0.1', resolve));
    const slowPort = (slowUpstream.address() as { port: number }).port;
    stack = await startStack({
      gateway: {
        clockToleranceMs: 0,
        routes: {
          routes: [
            { id: 'whoami', prefix: '/whoami', upstream: '${WHOAMI_URL}', auth: 'required', audience: 'whoami', websocket: true },
            {
              id: 'notes-read',
              prefix: '/notes',
              methods: ['GET'],
              upstream: '${NOTES_URL}',
              auth: 'required',
              audience: 'notes',
              scopes: ['notes:read'],
            },
            { id: 'down', prefix: '/down', upstream: 'http://127.0.0.1:1', auth: 'none' },
            { id: 'slow', prefix: '/slow', upstream: `http://127.0.0.1:${slowPort}`, auth: 'none', timeout: '200ms' },
          ],
        },
      },
    });
    T = stack.token.url;
    G = stack.gateway.url;
  });
  after(async () => {
    await stack?.stop();
    slowUpstream?.close();
  });

  const whoami = (token: string, headers: Record<string, string> = {}) => request(G, 'GET', '/whoami', { token, headers });
  const rejectedAtGateway = (token: string) => async () => (await whoami(token)).status === 401;
  const sidOf = (token: string) => jose.decodeJwt(token).sid as string;

  it('lets a fresh token through with the verified identity, then answers 401 after logout', async () => {
    const { tokens, userId } = await registerAndLogin(T);
    const before = await whoami(tokens.access_token);
    expect(before.status).to.equal(200);
    expect(before.body).to.include({ subject: userId, session: sidOf(tokens.access_token), client: 'web' });

    expect((await request(T, 'POST', '/auth/logout', { token: tokens.access_token })).status).to.equal(204);
    await eventually(rejectedAtGateway(tokens.access_token), 'the gateway rejects the logged-out token');
    const after = await whoami(tokens.access_token);
    expect(after.headers.get('www-authenticate')).to.match(/error="invalid_token"/);
  });

  it('logout global kills the tokens of every session at the gateway', async () => {
    const { user, tokens } = await registerAndLogin(T);
    const second = await login(T, user.username, user.password);
    expect((await whoami(second.access_token)).status).to.equal(200);
    await request(T, 'POST', '/auth/logout', { token: tokens.access_token, json: { scope: 'global' } });
    await eventually(rejectedAtGateway(tokens.access_token), 'first session rejected');
    await eventually(rejectedAtGateway(second.access_token), 'second session rejected');
  });

  it('refresh-token reuse kills the access tokens of the whole family at the gateway', async () => {
    const { tokens } = await registerAndLogin(T);
    const rotated = await refresh(T, tokens.refresh_token);
    expect((await whoami(rotated.body.access_token)).status).to.equal(200);
    // Replay the spent token outside the grace window.
    await stack.token.service
      .knex('refresh_tokens')
      .whereNotNull('consumed_at')
      .update({ consumed_at: new Date(Date.now() - 60_000) });
    expect((await refresh(T, tokens.refresh_token)).status).to.equal(400);
    await eventually(rejectedAtGateway(rotated.body.access_token), 'the child access token rejected');
    expect((await whoami(tokens.access_token)).status).to.equal(401);
  });

  it('RFC 7009 revocation of one access token is enforced at the gateway; the session lives on', async () => {
    const { tokens } = await registerAndLogin(T);
    await request(T, 'POST', '/oauth/revoke', { form: { token: tokens.access_token, client_id: 'web' } });
    await eventually(rejectedAtGateway(tokens.access_token), 'the revoked token rejected');
    const next = await refresh(T, tokens.refresh_token);
    expect((await whoami(next.body.access_token)).status).to.equal(200);
  });

  it('rejects expired, tampered, wrong-audience and wrong-typ tokens', async () => {
    const { tokens } = await registerAndLogin(T);
    const [header, payload, signature] = tokens.access_token.split('.') as [string, string, string];
    const claims = jose.decodeJwt(tokens.access_token);
    const tampered = `${header}.${Buffer.from(JSON.stringify({ ...claims, sub: 'someone-else' })).toString('base64url')}.${signature}`;
    expect((await whoami(tampered)).status, 'tampered').to.equal(401);

    const machine = await request<{ access_token: string }>(T, 'POST', '/oauth/token', {
      form: { grant_type: 'client_credentials' },
      headers: { authorization: basic(DEMO_SERVICE_CLIENT.id, DEMO_SERVICE_CLIENT.secret) },
    });
    expect(jose.decodeJwt(machine.body.access_token).aud).to.equal('notes');
    expect((await whoami(machine.body.access_token)).status, 'wrong audience').to.equal(401);

    // Signed with the real key, but typ JWT: still refused (RFC 9068 §4).
    const { kid, privateKey } = stack.token.service.keys.signer;
    const wrongTyp = await new jose.SignJWT({ ...claims }).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid }).sign(privateKey);
    expect((await whoami(wrongTyp)).status, 'typ JWT').to.equal(401);
    const now = Math.floor(Date.now() / 1000);
    const expired = await new jose.SignJWT({ ...claims, iat: now - 600, exp: now - 300 })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid })
      .sign(privateKey);
    expect((await whoami(expired)).status, 'expired').to.equal(401);
    expect(payload).to.be.a('string');
  });

  it('never lets a client-supplied identity header reach the upstream', async () => {
    const { tokens, userId } = await registerAndLogin(T);
    const reply = await whoami(tokens.access_token, { 'X-Auth-Subject': 'admin', 'X-User-Id': 'admin', 'X-Forwarded-For': '6.6.6.6' });
    expect(reply.status).to.equal(200);
    expect(reply.body.subject).to.equal(userId);
    const received = reply.body.headers as Record<string, string>;
    expect(received['x-auth-subject']).to.equal(userId);
    expect(received).not.to.have.property('x-user-id');
    expect(received['x-forwarded-for']).not.to.include('6.6.6.6');
  });

  it('accepts tokens signed by a rotated key without a gateway restart', async () => {
    await stack.token.service.keys.rotate();
    const { tokens } = await registerAndLogin(T);
    expect(jose.decodeProtectedHeader(tokens.access_token).kid).to.equal(stack.token.service.keys.signer.kid);
    await eventually(async () => (await whoami(tokens.access_token)).status === 200, 'a new-key token accepted');
  });

  it('answers 502 when the upstream is down and 504 when it is too slow', async () => {
    const down = await request(G, 'GET', '/down');
    expect(down.status).to.equal(502);
    expect(down.body).to.have.property('error');
    const slow = await request(G, 'GET', '/slow');
    expect(slow.status).to.equal(504);
    expect(slow.body).to.have.property('error');
  });

  it('closes an open WebSocket with 1008 when its session logs out', async () => {
    const { tokens } = await registerAndLogin(T);
    const socket = new WebSocket(`${G.replace('http', 'ws')}/whoami/ws`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    const echoed = new Promise<string>((resolve) => socket.once('message', (data) => resolve(String(data))));
    socket.send('ping');
    expect(await echoed).to.include('ping');
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    await request(T, 'POST', '/auth/logout', { token: tokens.access_token });
    expect(await closed).to.equal(1008);
  });

  it('refuses a WebSocket upgrade without a valid token', async () => {
    const socket = new WebSocket(`${G.replace('http', 'ws')}/whoami/ws`);
    const status = await new Promise<number>((resolve) => {
      socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      socket.once('open', () => resolve(101));
      socket.once('error', () => resolve(-1));
    });
    expect(status).to.equal(401);
  });

  it('enforces revocations made while the feed was down, after it reconnects', async () => {
    const { tokens } = await registerAndLogin(T);
    const { user, tokens: other } = await registerAndLogin(T);
    const third = await login(T, user.username, user.password);
    expect((await whoami(tokens.access_token)).status).to.equal(200);

    stack.issuerProxy.cut();
    await eventually(async () => stack.gateway.readiness().checks.feed !== 'live', 'the gateway notices the cut');
    await request(T, 'POST', '/auth/logout', { token: tokens.access_token });
    await request(T, 'POST', '/auth/logout', { token: other.access_token, json: { scope: 'global' } });
    // Still accepted: the gateway has not heard yet (this is what REVOCATION_MAX_STALENESS bounds).
    expect((await whoami(tokens.access_token)).status).to.equal(200);

    stack.issuerProxy.heal();
    await eventually(rejectedAtGateway(tokens.access_token), 'caught up: local logout');
    await eventually(rejectedAtGateway(third.access_token), 'caught up: global logout');
  });
});

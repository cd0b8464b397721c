// WebSockets through the real token service and gateway (issue 9): a logout or
// revocation that lands while the upstream is still answering the handshake
// must not let the upgrade complete; a socket ends when its access token
// expires; a message over the size limit closes with 1009; and a peer that
// does not read pushes back on the sender instead of growing the gateway.
import { expect } from 'chai';
import * as jose from 'jose';
import type { WebSocket } from 'ws';
import { HIGH_WATER_MARK } from '../../gateway/websocket/flow-control.ts';
import type { RelayedSocket } from '../../gateway/websocket/relay.ts';
import { login, registerAndLogin, request } from '../support/http.ts';
import { eventually, startStack, type Stack } from '../support/stack.ts';
import {
  connectClient,
  flood,
  floodReceiver,
  sampleMax,
  startProbeUpstream,
  untilStalled,
  type Flood,
  type ProbeUpstream,
} from '../support/websocket-peers.ts';

const MiB = 2 ** 20;
// What one direction may hold: the high-water mark plus one message (the size limit).
const BOUND = HIGH_WATER_MARK + MiB;

const claimsOf = (token: string) => jose.decodeJwt(token) as { sid: string; sub: string; jti: string; exp: number };

describe('reliability: WebSockets through the real token service and gateway', function () {
  this.timeout(60_000);
  let stack: Stack;
  let T: string;
  let held: ProbeUpstream;
  let flooder: ProbeUpstream;
  const floods: Flood[] = [];
  const opened: WebSocket[] = [];

  before(async () => {
    held = await startProbeUpstream({ hello: 'hello from upstream' });
    flooder = await startProbeUpstream({ onConnection: (c) => floods.push(flood(c.socket, 64 * MiB, 64 * 1024)) });
    stack = await startStack({
      gateway: {
        routes: {
          routes: [
            { id: 'whoami', prefix: '/whoami', upstream: '${WHOAMI_URL}', auth: 'required', audience: 'whoami', websocket: true },
            { id: 'held', prefix: '/held', upstream: held.url, auth: 'required', audience: 'whoami', websocket: true },
            { id: 'flooder', prefix: '/flooder', upstream: flooder.url, auth: 'required', audience: 'whoami', websocket: true },
          ],
        },
      },
    });
    T = stack.token.url;
  });
  afterEach(() => {
    held.hold = false;
    for (const socket of opened.splice(0)) socket.terminate();
  });
  after(async () => {
    await stack?.stop();
    await held?.close();
    await flooder?.close();
  });

  function client(path: string, token: string, onOpen?: (socket: WebSocket) => void) {
    const outcome = connectClient(`${stack.gateway.url.replace(/^http/, 'ws')}${path}`, token, onOpen);
    opened.push(outcome.socket);
    return outcome;
  }

  function relayedFor(sid: string): RelayedSocket {
    const found = stack.gateway.sockets.all().find((socket) => socket.claims?.sid === sid);
    if (!found) throw new Error(`no relayed socket for session ${sid}`);
    return found;
  }

  /** Opens a socket whose upstream handshake is held, revokes with `revoke`, then lets the upstream answer. */
  async function revokedDuringHandshake(token: string, revoke: () => Promise<void>): Promise<void> {
    held.hold = true;
    const upgrade = held.nextUpgrade();
    const connectionsBefore = held.connections.length;
    const outcome = client('/held/ws', token, (socket) => socket.send('from the client'));
    const handshake = await upgrade;
    await revoke();
    handshake.release();
    expect(await outcome.status, 'the client handshake').to.equal(401);
    expect(outcome.messages, 'frames relayed to the client').to.deep.equal([]);
    await eventually(async () => held.open === 0, 'the upstream leg is closed');
    for (const connection of held.connections.slice(connectionsBefore)) expect(connection.messages, 'frames relayed upstream').to.equal(0);
  }

  describe('a revocation while the upstream handshake is in progress refuses the upgrade', () => {
    it('logout (the issue: 204, then a 101 and frames relayed for seconds)', async () => {
      const { tokens } = await registerAndLogin(T, 'wsrace');
      const { sid } = claimsOf(tokens.access_token);
      await revokedDuringHandshake(tokens.access_token, async () => {
        expect((await request(T, 'POST', '/auth/logout', { token: tokens.access_token })).status).to.equal(204);
        await stack.gateway.denylist.waitFor({ kind: 'session', key: sid });
      });
    });

    it('logout of every session from another device', async () => {
      const { user, tokens } = await registerAndLogin(T, 'wsrace');
      const other = await login(T, user.username, user.password);
      const { sub } = claimsOf(tokens.access_token);
      await revokedDuringHandshake(tokens.access_token, async () => {
        expect((await request(T, 'POST', '/auth/logout', { token: other.access_token, json: { scope: 'global' } })).status).to.equal(204);
        // A global logout is one user-wide entry.
        await stack.gateway.denylist.waitFor({ kind: 'user', key: sub });
      });
    });

    it('RFC 7009 revocation of the access token', async () => {
      const { tokens } = await registerAndLogin(T, 'wsrace');
      const { jti } = claimsOf(tokens.access_token);
      await revokedDuringHandshake(tokens.access_token, async () => {
        expect((await request(T, 'POST', '/oauth/revoke', { form: { token: tokens.access_token, client_id: 'web' } })).status).to.equal(
          200,
        );
        await stack.gateway.denylist.waitFor({ kind: 'token', key: jti });
      });
    });

    it('and a logout right after the 101 closes the socket with 1008', async () => {
      const { tokens } = await registerAndLogin(T, 'wsrace');
      const outcome = client('/whoami/ws', tokens.access_token);
      expect(await outcome.status).to.equal(101);
      await request(T, 'POST', '/auth/logout', { token: tokens.access_token });
      expect((await outcome.closed)[0]).to.equal(1008);
    });
  });

  it('closes with 1009 a message over the 1 MiB default', async () => {
    const { tokens } = await registerAndLogin(T, 'wssize');
    const outcome = client('/whoami/ws', tokens.access_token);
    expect(await outcome.status).to.equal(101);
    outcome.socket.send(Buffer.alloc(MiB + 1));
    expect((await outcome.closed)[0]).to.equal(1009);
  });

  it('a client that sends 64 MiB to an echo without reading: the gateway buffers at most ~2 MiB a direction, and every byte comes back once it reads', async () => {
    const { tokens } = await registerAndLogin(T, 'wsflood');
    const { sid } = claimsOf(tokens.access_token);
    let echoed: ReturnType<typeof floodReceiver> | undefined;
    let sending: Flood | undefined;
    const outcome = client('/whoami/ws', tokens.access_token, (socket) => {
      socket.once('message', () => {
        // whoami's hello first; from here on, only the echo of the flood.
        echoed = floodReceiver(socket);
        socket.pause();
        sending = flood(socket, 64 * MiB, 64 * 1024);
      });
    });
    expect(await outcome.status).to.equal(101);
    await eventually(async () => sending !== undefined, 'flooding');
    const relayed = relayedFor(sid);
    const buffered = sampleMax(() => Math.max(relayed.client?.bufferedAmount ?? 0, relayed.upstream.bufferedAmount));
    try {
      await untilStalled(
        () => (sending as Flood).flushed,
        () => (sending as Flood).flushed >= 64 * MiB,
      );
      expect(relayed.upstream.isPaused, 'the gateway stopped reading the echo').to.equal(true);
      expect(buffered.max, 'bytes the gateway held for one leg').to.be.at.most(BOUND);
      outcome.socket.resume();
      await (sending as Flood).done;
      await eventually(async () => echoed?.bytes === 64 * MiB, 'the whole echo arrived', 60_000);
      expect(echoed?.inOrder, 'whole messages, in order, none missing').to.equal(true);
      expect(buffered.max, 'bytes the gateway held for one leg').to.be.at.most(BOUND);
    } finally {
      buffered.stop();
    }
  });

  it('an upstream that floods a client who does not read is pushed back', async () => {
    const { tokens } = await registerAndLogin(T, 'wsflood');
    const { sid } = claimsOf(tokens.access_token);
    const floodsBefore = floods.length;
    const outcome = client('/flooder/ws', tokens.access_token, (socket) => socket.pause());
    expect(await outcome.status).to.equal(101);
    await eventually(async () => floods.length > floodsBefore, 'the upstream floods');
    const upstreamFlood = floods[floodsBefore] as Flood;
    const relayed = relayedFor(sid);
    const buffered = sampleMax(() => relayed.client?.bufferedAmount ?? 0);
    try {
      await untilStalled(
        () => upstreamFlood.flushed,
        () => upstreamFlood.flushed >= 64 * MiB,
      );
      expect(upstreamFlood.flushed, 'bytes the upstream got rid of').to.be.below(64 * MiB);
      expect(relayed.upstream.isPaused, 'the gateway stopped reading the upstream').to.equal(true);
      expect(buffered.max, 'bytes the gateway held for the client').to.be.at.most(BOUND);
    } finally {
      buffered.stop();
    }
  });
});

describe('reliability: a WebSocket ends with its access token (ACCESS_TOKEN_TTL=2s, CLOCK_TOLERANCE=1s)', function () {
  this.timeout(30_000);
  let stack: Stack;

  before(async () => {
    stack = await startStack({
      tokenEnv: { ACCESS_TOKEN_TTL: '2s' },
      gateway: {
        clockToleranceMs: 1000,
        routes: {
          routes: [{ id: 'whoami', prefix: '/whoami', upstream: '${WHOAMI_URL}', auth: 'required', audience: 'whoami', websocket: true }],
        },
      },
    });
  });
  after(async () => {
    await stack?.stop();
  });

  it('closes with 1008 "token expired" once the gateway would refuse the token on HTTP, and a refreshed token opens a new one', async () => {
    const { tokens } = await registerAndLogin(stack.token.url, 'wsexp');
    const { exp } = claimsOf(tokens.access_token);
    const outcome = connectClient(`${stack.gateway.url.replace(/^http/, 'ws')}/whoami/ws`, tokens.access_token);
    try {
      expect(await outcome.status).to.equal(101);
      const [code, reason] = await outcome.closed;
      expect(Date.now(), 'not before exp + tolerance').to.be.at.least((exp + 1) * 1000);
      expect([code, reason]).to.deep.equal([1008, 'token expired']);
      expect((await request(stack.gateway.url, 'GET', '/whoami', { token: tokens.access_token })).status).to.equal(401);

      const renewed = await request<{ access_token: string }>(stack.token.url, 'POST', '/oauth/token', {
        form: { grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: 'web' },
      });
      const next = connectClient(`${stack.gateway.url.replace(/^http/, 'ws')}/whoami/ws`, renewed.body.access_token);
      expect(await next.status).to.equal(101);
      next.socket.terminate();
    } finally {
      outcome.socket.terminate();
    }
  });

  it('never expires a socket early: one opened just after login stays open past an unrelated token expiry', async () => {
    const first = await registerAndLogin(stack.token.url, 'wsexp');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const second = await registerAndLogin(stack.token.url, 'wsexp');
    const early = connectClient(`${stack.gateway.url.replace(/^http/, 'ws')}/whoami/ws`, first.tokens.access_token);
    const late = connectClient(`${stack.gateway.url.replace(/^http/, 'ws')}/whoami/ws`, second.tokens.access_token);
    try {
      expect(await early.status).to.equal(101);
      expect(await late.status).to.equal(101);
      await early.closed;
      expect(late.socket.readyState, 'the later token is still good').to.equal(1);
      expect((await late.closed)[0]).to.equal(1008);
    } finally {
      early.socket.terminate();
      late.socket.terminate();
    }
  });
});

// WebSockets through the gateway: authenticated before the upgrade, relayed to
// whoami's echo endpoint, and closed with 1008 when the fake token service's
// revocation feed reports the session (or user, or token) revoked. Then the
// hardening of issue 9: revocation while the upstream handshake is in
// progress, token expiry, message size and bounded buffering both ways.
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http, { type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocket } from 'ws';
import type { Gateway } from '../../gateway/app.ts';
import { loadConfig, type GatewayConfig } from '../../gateway/config.ts';
import { HIGH_WATER_MARK, MAX_QUEUED } from '../../gateway/websocket/flow-control.ts';
import type { RelayedSocket } from '../../gateway/websocket/relay.ts';
import { startWhoami, type RunningApp } from '../../services/whoami/app.ts';
import { startTestGateway } from '../support/gateway.ts';
import { eventually } from '../support/stack.ts';
import {
  connectClient,
  flood,
  floodReceiver,
  sampleMax,
  startProbeUpstream,
  untilStalled,
  type ClientOutcome,
  type Flood,
  type ProbeUpstream,
} from '../support/websocket-peers.ts';
import { FakeAuthority } from './helpers/fake-authority.ts';

const MiB = 2 ** 20;
const nowSec = () => Math.floor(Date.now() / 1000);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits for the start of the next second, so that a token made "about a second from expiry" gets all of that second. */
const nextSecond = () => sleep(1000 - (Date.now() % 1000) + 5);

interface OpenSocket {
  socket: WebSocket;
  hello: Record<string, unknown>;
}

describe('gateway: WebSockets', () => {
  let authority: FakeAuthority;
  let whoami: RunningApp;
  let gateway: Gateway;
  const opened: WebSocket[] = [];

  // Upstreams for the hardening cases: one whose handshakes can be held, an echo, one
  // that floods whoever connects, and one that stops reading.
  let held: ProbeUpstream;
  let echoProbe: ProbeUpstream;
  let flooder: ProbeUpstream;
  let sink: ProbeUpstream;
  const floods: Flood[] = [];
  const sinkReceivers: Array<ReturnType<typeof floodReceiver>> = [];

  before(async () => {
    authority = await FakeAuthority.start();
    whoami = await startWhoami();
    held = await startProbeUpstream({ hello: 'hello from upstream' });
    echoProbe = await startProbeUpstream({ echo: true });
    flooder = await startProbeUpstream({ onConnection: (c) => floods.push(flood(c.socket, 64 * MiB, 64 * 1024)) });
    sink = await startProbeUpstream({
      onConnection: (c) => {
        sinkReceivers.push(floodReceiver(c.socket));
        c.socket.pause();
      },
    });
    gateway = await startTestGateway(authority.followed, {
      routes: {
        routes: [
          { id: 'whoami', prefix: '/whoami', upstream: whoami.url, auth: 'required', audience: 'whoami', websocket: true },
          { id: 'plain', prefix: '/plain', upstream: whoami.url, auth: 'required', audience: 'whoami' },
          { id: 'dead', prefix: '/dead', upstream: 'http://127.0.0.1:9', auth: 'none', websocket: true },
          { id: 'held', prefix: '/held', upstream: held.url, auth: 'required', audience: 'whoami', websocket: true },
          { id: 'echo', prefix: '/echo', upstream: echoProbe.url, auth: 'required', audience: 'whoami', websocket: true },
          { id: 'flooder', prefix: '/flooder', upstream: flooder.url, auth: 'required', audience: 'whoami', websocket: true },
          { id: 'sink', prefix: '/sink', upstream: sink.url, auth: 'required', audience: 'whoami', websocket: true },
          { id: 'anonymous', prefix: '/anonymous', upstream: echoProbe.url, auth: 'none', websocket: true },
        ],
      },
    });
  });
  afterEach(() => {
    for (const socket of opened.splice(0)) {
      socket.on('error', () => undefined); // terminating a refused (still connecting) socket reports an error
      socket.terminate();
    }
  });
  after(async () => {
    await gateway.close();
    await whoami.close();
    for (const probe of [held, echoProbe, flooder, sink]) await probe.close();
    await authority.close();
  });

  const wsUrl = (path: string) => gateway.url.replace(/^http/, 'ws') + path;

  async function connect(token: string | undefined, path = '/whoami/ws', protocols: string[] = []): Promise<OpenSocket> {
    const socket = new WebSocket(wsUrl(path), protocols, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    opened.push(socket);
    const [data] = (await once(socket, 'message')) as [Buffer];
    return { socket, hello: JSON.parse(data.toString()) as Record<string, unknown> };
  }

  async function refusedStatus(token: string | undefined, path = '/whoami/ws'): Promise<number | undefined> {
    const socket = new WebSocket(wsUrl(path), { headers: token ? { authorization: `Bearer ${token}` } : {} });
    opened.push(socket);
    const [, response] = (await once(socket, 'unexpected-response')) as [unknown, IncomingMessage];
    response.resume();
    return response.statusCode;
  }

  async function echo(socket: WebSocket, text: string): Promise<string> {
    const reply = once(socket, 'message');
    socket.send(text);
    const [data] = (await reply) as [Buffer];
    return data.toString();
  }

  it('authenticates the upgrade and relays messages with the verified identity', async () => {
    const { socket, hello } = await connect(await authority.token({ sub: 'wendy', sid: 'ws-sess' }), '/whoami/ws', ['chat.v1']);
    expect(hello.type).to.equal('hello');
    expect(hello.subject).to.equal('wendy');
    expect(hello.session).to.equal('ws-sess');
    expect(socket.protocol, "the upstream's subprotocol choice reaches the client").to.equal('chat.v1');
    expect(await echo(socket, 'ping 1')).to.equal('ping 1');
    expect(gateway.sockets.size).to.equal(1);
  });

  it('refuses upgrades without a valid token, on routes without WebSockets, and to a dead upstream', async () => {
    expect(await refusedStatus(undefined)).to.equal(401);
    expect(await refusedStatus('not-a-jwt')).to.equal(401);
    expect(await refusedStatus(await authority.token({ aud: 'notes' }))).to.equal(401);
    expect(await refusedStatus(await authority.token(), '/plain/ws')).to.equal(404);
    expect(await refusedStatus(undefined, '/dead/ws')).to.equal(502);
  });

  it('refuses a malformed handshake before contacting the upstream', async () => {
    const before = whoami.openSessions().length;
    const request = http.get(`${gateway.url}/whoami/ws`, {
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': 'not-a-key',
        authorization: `Bearer ${await authority.token()}`,
      },
    });
    const [response] = (await once(request, 'response')) as [IncomingMessage];
    response.resume();
    expect(response.statusCode).to.equal(400);
    expect(whoami.openSessions().length).to.equal(before);
  });

  it('refuses an upgrade for a session that is already revoked', async () => {
    const token = await authority.token({ sid: 'ws-already-revoked' });
    await gateway.denylist.waitFor(authority.revoke('session', 'ws-already-revoked').id);
    expect(await refusedStatus(token)).to.equal(401);
  });

  it('closes an open socket with 1008 when its session is revoked, and only that one', async () => {
    const doomed = await connect(await authority.token({ sub: 'wendy', sid: 'ws-doomed' }));
    const survivor = await connect(await authority.token({ sub: 'wendy', sid: 'ws-survivor' }));
    expect(whoami.openSessions().includes('ws-doomed')).to.be.ok;
    const closed = once(doomed.socket, 'close') as Promise<[number, Buffer]>;
    authority.revoke('session', 'ws-doomed');
    const [code, reason] = await closed;
    expect(code).to.equal(1008);
    expect(reason.toString()).to.equal('session revoked');
    // The upstream leg is closed too.
    await eventually(() => !whoami.openSessions().includes('ws-doomed'), 'the upstream leg closed');
    expect(whoami.openSessions().includes('ws-survivor')).to.be.ok;
    expect(survivor.socket.readyState).to.equal(WebSocket.OPEN);
    expect(await echo(survivor.socket, 'still here')).to.equal('still here');
  });

  it('closes every socket of a user revoked from an instant on, sparing later logins', async () => {
    const now = Math.floor(Date.now() / 1000);
    const first = await connect(await authority.token({ sub: 'uma', iat: now - 60 }));
    const second = await connect(await authority.token({ sub: 'uma', iat: now - 50 }));
    const later = await connect(await authority.token({ sub: 'uma', iat: now }));
    const closes = [once(first.socket, 'close'), once(second.socket, 'close')] as Promise<[number]>[];
    authority.revoke('user', 'uma', { notBefore: new Date((now - 10) * 1000) });
    const codes = (await Promise.all(closes)).map(([code]) => code);
    expect(codes).to.deep.equal([1008, 1008]);
    expect(await echo(later.socket, 'after')).to.equal('after');
  });

  it('closes a socket whose single token is revoked', async () => {
    const { socket } = await connect(await authority.token({ jti: 'ws-jti' }));
    const closed = once(socket, 'close') as Promise<[number]>;
    authority.revoke('token', 'ws-jti');
    const [code] = await closed;
    expect(code).to.equal(1008);
  });

  // ---- issue 9: hardening ------------------------------------------------------------

  /** A client through the gateway, terminated after the test. */
  function client(path: string, token: string | undefined, onOpen?: (socket: WebSocket) => void) {
    const outcome = connectClient(wsUrl(path), token, onOpen);
    opened.push(outcome.socket);
    return outcome;
  }

  /** The gateway's relayed socket for a session (there is one per test). */
  function relayedFor(sid: string): RelayedSocket {
    const found = gateway.sockets.all().find((socket) => socket.claims?.sid === sid);
    expect(found, `no relayed socket for ${sid}`).to.be.ok;
    return found!;
  }

  /** A second gateway, with its own fake authority, on one WebSocket route (/side) to `upstream`: for settings the shared one lacks. */
  async function withSideGateway(
    upstream: string,
    settings: Partial<GatewayConfig>,
    run: (side: {
      gateway: Gateway;
      authority: FakeAuthority;
      client(token: string, onOpen?: (socket: WebSocket) => void): ClientOutcome;
    }) => Promise<void>,
  ): Promise<void> {
    const sideAuthority = await FakeAuthority.start();
    const side = await startTestGateway(sideAuthority.followed, {
      routes: { routes: [{ id: 'side', prefix: '/side', upstream, auth: 'required', audience: 'whoami', websocket: true }] },
      ...settings,
    });
    try {
      await run({
        gateway: side,
        authority: sideAuthority,
        client: (token, onOpen) => {
          const outcome = connectClient(`${side.url.replace(/^http/, 'ws')}/side/ws`, token, onOpen);
          opened.push(outcome.socket);
          return outcome;
        },
      });
    } finally {
      await side.close();
      await sideAuthority.close();
    }
  }

  describe('revocation while the upstream handshake is in progress', () => {
    afterEach(() => {
      held.hold = false;
    });

    for (const kind of ['session', 'user', 'token'] as const) {
      it(`refuses the upgrade with 401 when the ${kind} is revoked before the upstream answers; nothing is relayed`, async () => {
        held.hold = true;
        const claims = { sub: `held-${kind}-${randomUUID()}`, sid: randomUUID(), jti: randomUUID(), iat: nowSec() - 5 };
        const upgrade = held.nextUpgrade();
        const connectionsBefore = held.connections.length;
        const outcome = client('/held/ws', await authority.token(claims), (socket) => socket.send('from the client'));
        const handshake = await upgrade; // the gateway has passed its policy and is waiting for the upstream
        const key = kind === 'session' ? claims.sid : kind === 'user' ? claims.sub : claims.jti;
        const entry = authority.revoke(kind, key, kind === 'user' ? { notBefore: new Date() } : {});
        await gateway.denylist.waitFor(entry.id);
        handshake.release();

        expect(await outcome.status).to.equal(401);
        expect(outcome.messages, 'no upstream frame reached the client').to.deep.equal([]);
        // The upstream leg is gone: either never completed or closed, and it received nothing.
        await eventually(() => held.open === 0, 'the upstream leg closed');
        for (const connection of held.connections.slice(connectionsBefore)) expect(connection.messages).to.equal(0);
        expect(gateway.sockets.all().filter((s) => s.claims?.sid === claims.sid).length, 'nothing left registered').to.equal(0);
      });
    }

    it('refuses the upgrade when the revocation feed goes stale while the upstream answers (REVOCATION_MAX_STALENESS)', async () => {
      // Only the re-check at the upstream's answer can catch this one: no revocation event arrives.
      await withSideGateway(held.url, { revocationMaxStalenessMs: 100, feedReconnectMinMs: 5000 }, async (side) => {
        held.hold = true;
        const upgrade = held.nextUpgrade();
        const outcome = side.client(await side.authority.token());
        const handshake = await upgrade;
        side.authority.feedAvailable = false;
        side.authority.dropStreams();
        await eventually(() => side.gateway.readiness().checks.stale, 'the feed is stale');
        handshake.release();
        expect(await outcome.status).to.equal(503);
        expect(outcome.messages).to.deep.equal([]);
        await eventually(() => held.open === 0, 'the upstream leg closed');
      });
    });

    it('refuses a pending upgrade with 503 when the gateway shuts down', async () => {
      await withSideGateway(held.url, {}, async (side) => {
        held.hold = true;
        const upgrade = held.nextUpgrade();
        const outcome = side.client(await side.authority.token());
        const handshake = await upgrade;
        const closed = side.gateway.close();
        expect(await outcome.status).to.equal(503);
        handshake.release();
        await closed;
        await eventually(() => held.open === 0, 'the upstream leg closed');
      });
    });
  });

  describe('token expiry', () => {
    afterEach(() => {
      held.hold = false;
    });

    it('closes the socket with 1008 "token expired" exactly when HTTP stops accepting the token (exp + clock tolerance)', async () => {
      // 30 s of tolerance (the default): a token 29 s past exp is still good, for about a second.
      await nextSecond();
      const exp = nowSec() - 29;
      const token = await authority.token({ sid: randomUUID(), iat: exp - 60, exp });
      const deadlineMs = (exp + gateway.config.clockToleranceMs / 1000) * 1000;
      const { socket } = await connect(token);
      expect((await fetch(`${gateway.url}/plain`, { headers: { authorization: `Bearer ${token}` } })).status).to.equal(200);
      expect(await echo(socket, 'before expiry')).to.equal('before expiry');
      const [code, reason] = (await once(socket, 'close')) as [number, Buffer];
      expect(Date.now() >= deadlineMs, 'not closed before the token stopped being accepted').to.be.ok;
      expect(code).to.equal(1008);
      expect(reason.toString()).to.equal('token expired');
      const after = await fetch(`${gateway.url}/plain`, { headers: { authorization: `Bearer ${token}` } });
      expect(after.status).to.equal(401);
      expect(after.headers.get('www-authenticate') ?? '').to.match(/token expired/);
    });

    it('refuses the upgrade with 401 when the token expires while the upstream is answering', async () => {
      await nextSecond();
      const exp = nowSec() - 29;
      const token = await authority.token({ sid: randomUUID(), iat: exp - 60, exp });
      held.hold = true;
      const upgrade = held.nextUpgrade();
      const outcome = client('/held/ws', token);
      const handshake = await upgrade;
      await sleep((exp + 30) * 1000 - Date.now() + 50);
      handshake.release();
      expect(await outcome.status).to.equal(401);
      expect(outcome.messages).to.deep.equal([]);
      await eventually(() => held.open === 0, 'the upstream leg closed');
    });

    it('keeps a socket whose token outlives what one timer can wait (over 24.8 days)', async () => {
      const { socket } = await connect(await authority.token({ exp: nowSec() + 40 * 86_400 }));
      await sleep(50);
      expect(socket.readyState).to.equal(WebSocket.OPEN);
      expect(await echo(socket, 'still open')).to.equal('still open');
    });

    it('renew() moves a socket onto a fresher token of its session: it outlives the old one and is revoked by the new one', async () => {
      const sid = randomUUID();
      await nextSecond();
      const exp = nowSec() - 29;
      const old = { sub: 'renewer', sid, jti: randomUUID(), iat: exp - 60, exp };
      const { socket } = await connect(await authority.token(old));
      const relayed = relayedFor(sid);
      const fresher = await gateway.verifier.verify(await authority.token({ sub: 'renewer', sid, jti: randomUUID() }));
      expect(() => relayed.renew({ ...fresher, sid: 'another-session' })).to.throw(/own subject and session/);
      relayed.renew(fresher);
      await sleep((exp + 30) * 1000 - Date.now() + 100);
      expect(await echo(socket, 'renewed'), 'open past the old token').to.equal('renewed');
      const closed = once(socket, 'close') as Promise<[number]>;
      await gateway.denylist.waitFor(authority.revoke('token', old.jti).id);
      expect(socket.readyState, "the old token's revocation no longer applies").to.equal(WebSocket.OPEN);
      authority.revoke('token', fresher.jti);
      expect((await closed)[0]).to.equal(1008);
    });

    it('anonymous sockets have no token to expire and relay like any other', async () => {
      const outcome = client('/anonymous/ws', undefined);
      expect(await outcome.status).to.equal(101);
      expect(await echo(outcome.socket, 'anonymous')).to.equal('anonymous');
      const relayed = gateway.sockets.all().find((socket) => socket.routeId === 'anonymous');
      expect(relayed?.state).to.equal('open');
      expect(relayed!.claims).to.equal(undefined);
    });
  });

  describe('message size (WEBSOCKET_MAX_MESSAGE_SIZE, 1 MiB by default)', () => {
    async function echoConnection(): Promise<{
      socket: WebSocket;
      upstreamClosed: Promise<[number, string]>;
      upstream: ProbeUpstream['connections'][number];
    }> {
      const before = echoProbe.connections.length;
      const outcome = client('/echo/ws', await authority.token());
      expect(await outcome.status).to.equal(101);
      await eventually(() => echoProbe.connections.length > before, 'upstream connected');
      const upstream = echoProbe.connections[before] as ProbeUpstream['connections'][number];
      return { socket: outcome.socket, upstreamClosed: upstream.closed, upstream };
    }

    it('relays a message of exactly the limit, both ways', async () => {
      const { socket } = await echoConnection();
      const reply = once(socket, 'message') as Promise<[Buffer]>;
      socket.send(Buffer.alloc(MiB, 7));
      const [data] = await reply;
      expect(data.length).to.equal(MiB);
    });

    it('closes with 1009 when the client sends one byte more, and the upstream never receives it', async () => {
      const { socket, upstreamClosed, upstream } = await echoConnection();
      socket.send(Buffer.alloc(MiB + 1));
      const [code] = (await once(socket, 'close')) as [number];
      expect(code).to.equal(1009);
      expect((await upstreamClosed)[0]).to.equal(1009);
      expect(upstream.messages).to.equal(0);
    });

    it('closes with 1009 when the upstream sends one byte more, and the client never receives it', async () => {
      const { socket, upstreamClosed, upstream } = await echoConnection();
      const received: Buffer[] = [];
      socket.on('message', (data: Buffer) => received.push(data));
      upstream.socket.send(Buffer.alloc(MiB + 1));
      expect((await upstreamClosed)[0]).to.equal(1009);
      const [code] = (await once(socket, 'close')) as [number];
      expect(code).to.equal(1009);
      expect(received).to.deep.equal([]);
    });

    it('counts a fragmented message as a whole', async () => {
      const { socket, upstream } = await echoConnection();
      for (let i = 0; i < 4; i += 1) socket.send(Buffer.alloc(300 * 1024), { fin: i === 3 });
      const [code] = (await once(socket, 'close')) as [number];
      expect(code).to.equal(1009);
      expect(upstream.messages).to.equal(0);
    });

    it('honours a configured limit (WEBSOCKET_MAX_MESSAGE_SIZE=64KiB)', async () => {
      const { websocketMaxMessageBytes } = loadConfig({ WEBSOCKET_MAX_MESSAGE_SIZE: '64KiB' });
      await withSideGateway(echoProbe.url, { websocketMaxMessageBytes }, async (side) => {
        const outcome = side.client(await side.authority.token());
        expect(await outcome.status).to.equal(101);
        expect(await echo(outcome.socket, 'x'.repeat(65_536))).to.equal('x'.repeat(65_536));
        outcome.socket.send(Buffer.alloc(65_537));
        expect((await outcome.closed)[0]).to.equal(1009);
      });
    });

    it('closes with 1009 as soon as a frame header announces too much, without waiting for (or buffering) its payload', async () => {
      const request = http.get(`${gateway.url}/echo/ws`, {
        headers: {
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-version': '13',
          'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
          authorization: `Bearer ${await authority.token()}`,
        },
      });
      const [response, raw] = (await once(request, 'upgrade')) as [IncomingMessage, Socket];
      expect(response.statusCode).to.equal(101);
      // FIN + binary, masked, 64-bit length 64 MiB (under ws's own 100 MiB default), mask key; then 10 bytes.
      const header = Buffer.from([0x82, 0xff, 0, 0, 0, 0, 0x04, 0, 0, 0, 1, 2, 3, 4]);
      raw.write(Buffer.concat([header, Buffer.alloc(10)]));
      const [frame] = (await once(raw, 'data')) as [Buffer];
      raw.destroy();
      expect(frame[0], 'a close frame').to.equal(0x88);
      expect(frame.readUInt16BE(2)).to.equal(1009);
    });
  });

  describe('bounded buffering (backpressure) both ways', function () {
    this.timeout(60_000);
    // What one direction may hold: the high-water mark, plus what ws had already read
    // when the source was paused (at most one message, bounded by the size limit).
    const bound = HIGH_WATER_MARK + MiB;

    it('stops reading an upstream that floods a client who does not read, and loses nothing once the client reads', async () => {
      const sid = randomUUID();
      const floodsBefore = floods.length;
      let received: ReturnType<typeof floodReceiver> | undefined;
      const outcome = client('/flooder/ws', await authority.token({ sid }), (socket) => {
        received = floodReceiver(socket);
        socket.pause();
      });
      expect(await outcome.status).to.equal(101);
      await eventually(() => floods.length > floodsBefore, 'the upstream started flooding');
      const upstreamFlood = floods[floodsBefore] as Flood;
      const relayed = relayedFor(sid);
      const towardClient = sampleMax(() => relayed.client?.bufferedAmount ?? 0);
      try {
        await untilStalled(
          () => upstreamFlood.flushed,
          () => upstreamFlood.flushed >= 64 * MiB,
        );
        expect(upstreamFlood.flushed < 64 * MiB, `the upstream was pushed back (flushed ${upstreamFlood.flushed} bytes)`).to.be.ok;
        expect(relayed.upstream.isPaused, 'the gateway stopped reading the upstream').to.be.ok;
        expect(towardClient.max <= bound, `buffered toward the client: ${towardClient.max} bytes (bound ${bound})`).to.be.ok;

        outcome.socket.resume();
        await upstreamFlood.done;
        await eventually(() => received?.bytes === 64 * MiB, 'every byte reached the client', 30_000);
        expect(received?.inOrder, 'whole messages, in order, none missing').to.be.ok;
        expect(towardClient.max <= bound, `buffered toward the client: ${towardClient.max} bytes (bound ${bound})`).to.be.ok;
      } finally {
        towardClient.stop();
      }
    });

    it('stops reading a client that floods an upstream which does not read, and loses nothing once the upstream reads', async () => {
      const sid = randomUUID();
      const sinkBefore = sink.connections.length;
      let clientFlood: Flood | undefined;
      const outcome = client('/sink/ws', await authority.token({ sid }), (socket) => (clientFlood = flood(socket, 64 * MiB, 64 * 1024)));
      expect(await outcome.status).to.equal(101);
      await eventually(() => sink.connections.length > sinkBefore && clientFlood !== undefined, 'connected');
      const upstream = sink.connections[sinkBefore] as ProbeUpstream['connections'][number];
      const received = sinkReceivers[sinkBefore] as ReturnType<typeof floodReceiver>;
      const sending = clientFlood as Flood;
      const relayed = relayedFor(sid);
      const towardUpstream = sampleMax(() => relayed.upstream.bufferedAmount);
      try {
        await untilStalled(
          () => sending.flushed,
          () => sending.flushed >= 64 * MiB,
        );
        expect(sending.flushed < 64 * MiB, `the client was pushed back (flushed ${sending.flushed} bytes)`).to.be.ok;
        expect(relayed.client?.isPaused, 'the gateway stopped reading the client').to.be.ok;
        expect(towardUpstream.max <= bound, `buffered toward the upstream: ${towardUpstream.max} bytes (bound ${bound})`).to.be.ok;

        upstream.socket.resume();
        await sending.done;
        await eventually(() => received.bytes === 64 * MiB, 'every byte reached the upstream', 30_000);
        expect(received.inOrder, 'whole messages, in order, none missing').to.be.ok;
        expect(towardUpstream.max <= bound, `buffered toward the upstream: ${towardUpstream.max} bytes (bound ${bound})`).to.be.ok;
      } finally {
        towardUpstream.stop();
      }
    });

    it('bounds the number of queued messages as well as their bytes (a flood of tiny messages)', async () => {
      // 64-byte messages: 1 MiB of them would be ~15,000 queued writes (and ~100 bytes of heap each).
      const sid = randomUUID();
      let sending: Flood | undefined;
      const outcome = client('/sink/ws', await authority.token({ sid }), (socket) => (sending = flood(socket, 8 * MiB, 64)));
      expect(await outcome.status).to.equal(101);
      const relayed = relayedFor(sid);
      const towardUpstream = sampleMax(() => relayed.upstream.bufferedAmount);
      try {
        // Until the gateway pushes back, or the whole flood got through (it must not).
        await eventually(
          () => relayed.client?.isPaused === true || (sending?.flushed ?? 0) >= 8 * MiB,
          'the flood is pushed back or done',
          30_000,
        );
        expect(relayed.client?.isPaused, 'the gateway stopped reading the client').to.be.ok;
        // MAX_QUEUED frames of 70 bytes, plus what ws had already read (one 64 KiB read).
        const countBound = MAX_QUEUED * 70 + 128 * 1024;
        expect(towardUpstream.max <= countBound, `buffered toward the upstream: ${towardUpstream.max} bytes (bound ${countBound})`).to.be
          .ok;
      } finally {
        towardUpstream.stop();
      }
    });

    // A paused leg is not read: without a bound in time, a peer that left would go unnoticed.
    it('closes with 1013 a socket whose upstream reads nothing for WEBSOCKET_STALL_TIMEOUT', async () => {
      await withSideGateway(sink.url, { websocketStallTimeoutMs: 300 }, async (side) => {
        const outcome = side.client(await side.authority.token(), (socket) => flood(socket, 64 * MiB, 64 * 1024));
        expect(await outcome.status).to.equal(101);
        expect(await outcome.closed).to.deep.equal([1013, 'peer not reading']);
        await eventually(() => side.gateway.sockets.size === 0, 'the relay ended');
      });
    });

    it('frees the relay of a client that left while the gateway was not reading it', async () => {
      await withSideGateway(sink.url, { websocketStallTimeoutMs: 1000 }, async (side) => {
        const outcome = side.client(await side.authority.token(), (socket) => flood(socket, 64 * MiB, 64 * 1024));
        expect(await outcome.status).to.equal(101);
        const [relayed] = side.gateway.sockets.all() as [RelayedSocket];
        expect(relayed).to.be.ok;
        await eventually(() => relayed.client?.isPaused === true, 'the gateway stops reading the client');
        outcome.socket.terminate();
        await eventually(() => side.gateway.sockets.size === 0 && relayed.upstream.readyState === WebSocket.CLOSED, 'both legs released');
      });
    });
  });
});

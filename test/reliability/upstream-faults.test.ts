// Upstream and client faults at the gateway, end to end: refused connections
// (502), a slow upstream (504), an upstream that resets before or during its
// response, clients that abort (no upstream socket may leak: they are
// counted), and slow-header clients (408 after HEADERS_TIMEOUT). The gateway
// must stay up and answer each with its documented status.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { registerAndLogin, request } from '../support/http.ts';
import { eventually, startStack, type Stack } from '../support/stack.ts';

interface Upstream {
  url: string;
  server: http.Server;
  /** Sockets open on the upstream side right now. */
  readonly open: number;
  requests: number;
  close(): Promise<void>;
}

async function startUpstream(handler: http.RequestListener): Promise<Upstream> {
  const sockets = new Set<net.Socket>();
  const state = { requests: 0 };
  const server = http.createServer((req, res) => {
    state.requests += 1;
    handler(req, res);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    get open() {
      return sockets.size;
    },
    get requests() {
      return state.requests;
    },
    set requests(value: number) {
      state.requests = value;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function deadPort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe('reliability: upstream and client faults at the gateway', function () {
  this.timeout(60_000);
  let stack: Stack;
  let G: string;
  let token: string;
  let hang: Upstream;
  let reset: Upstream;

  before(async () => {
    hang = await startUpstream(() => undefined); // never answers
    reset = await startUpstream((req, res) => {
      if (req.url?.startsWith('/reset/before')) {
        req.socket.destroy();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '1000' });
      res.write('only the beginning');
      setTimeout(() => req.socket.destroy(), 20);
    });
    const refused = `http://127.0.0.1:${await deadPort()}`;
    stack = await startStack({
      gateway: {
        headersTimeoutMs: 500,
        routes: {
          routes: [
            { id: 'whoami', prefix: '/whoami', upstream: '${WHOAMI_URL}', auth: 'required', audience: 'whoami' },
            { id: 'public', prefix: '/public', upstream: '${WHOAMI_URL}', auth: 'none' },
            { id: 'refused', prefix: '/refused', upstream: refused, auth: 'required', audience: 'whoami' },
            { id: 'slow', prefix: '/slow', upstream: hang.url, auth: 'required', audience: 'whoami', timeout: '300ms' },
            { id: 'hang', prefix: '/hang', upstream: hang.url, auth: 'required', audience: 'whoami', timeout: '60s' },
            { id: 'reset', prefix: '/reset', upstream: reset.url, auth: 'none' },
          ],
        },
      },
    });
    G = stack.gateway.url;
    token = (await registerAndLogin(stack.token.url, 'faults')).tokens.access_token;
  });
  after(async () => {
    await stack?.stop();
    await hang?.close();
    await reset?.close();
  });
  afterEach(async () => {
    // Whatever happened, the gateway is up and still proxies.
    expect((await request(G, 'GET', '/healthz')).status).to.equal(200);
    expect((await request(G, 'GET', '/whoami', { token })).status).to.equal(200);
  });

  it('refused connection: 502 bad_gateway for each of 20 concurrent requests', async () => {
    const replies = await Promise.all(Array.from({ length: 20 }, () => request(G, 'GET', '/refused/x', { token })));
    for (const reply of replies) {
      expect(reply.status).to.equal(502);
      expect(reply.body).to.deep.equal({ error: 'bad_gateway', error_description: 'upstream unavailable' });
    }
  });

  it('slow upstream: 504 upstream_timeout, and the upstream request is abandoned (its socket closed)', async () => {
    const replies = await Promise.all(Array.from({ length: 10 }, () => request(G, 'GET', '/slow/x', { token })));
    for (const reply of replies) {
      expect(reply.status).to.equal(504);
      expect(reply.body.error).to.equal('upstream_timeout');
    }
    await eventually(async () => hang.open === 0, 'no upstream socket left open', 5000);
  });

  it('upstream reset before its response: 502; during its response: the client sees a broken response, not a complete one', async () => {
    const before = await request(G, 'GET', '/reset/before');
    expect(before.status).to.equal(502);
    expect(before.body.error).to.equal('bad_gateway');
    for (let i = 0; i < 5; i += 1) {
      let completed = false;
      try {
        const response = await fetch(`${G}/reset/mid`);
        expect(response.status).to.equal(200);
        await response.text();
        completed = true;
      } catch {
        // expected: the body broke off
      }
      expect(completed, 'a truncated body must not look complete').to.equal(false);
    }
  });

  it('clients that abort: every upstream request is cancelled, no upstream socket leaks (20 clients, counted)', async () => {
    hang.requests = 0;
    const abandonedBefore = stack.gateway.proxy.abandonedByClient;
    const clients = Array.from({ length: 20 }, () => {
      const req = http.get(`${G}/hang/long-poll`, { headers: { authorization: `Bearer ${token}` }, agent: false });
      req.on('error', () => undefined);
      return req;
    });
    await eventually(async () => hang.requests === 20 && hang.open === 20, 'all 20 requests reach the upstream', 10_000);
    for (const client of clients) client.destroy();
    await eventually(async () => hang.open === 0, `upstream sockets closed (open: ${hang.open})`, 5000);
    expect(stack.gateway.proxy.abandonedByClient - abandonedBefore).to.equal(20);
  });

  it('slow-header clients: 408 after HEADERS_TIMEOUT, while other clients are served', async () => {
    const slow = Array.from({ length: 20 }, (_, i) => {
      const socket = net.connect(stack.gateway.port, '127.0.0.1');
      let received = '';
      socket.on('data', (chunk) => (received += chunk.toString('latin1')));
      socket.on('error', () => undefined);
      const closed = new Promise<string>((resolve) => socket.on('close', () => resolve(received)));
      // Half of them dribble a header byte every 100 ms, forever; the others send nothing after the request line.
      socket.write(`GET /whoami HTTP/1.1\r\nHost: gateway\r\n`);
      const dribble = i % 2 === 0 ? setInterval(() => socket.writable && socket.write('X'), 100) : undefined;
      return { socket, closed, dribble };
    });
    try {
      // Meanwhile the gateway serves everybody else.
      for (let i = 0; i < 5; i += 1) expect((await request(G, 'GET', '/whoami', { token })).status).to.equal(200);
      const answers = await Promise.race([
        Promise.all(slow.map((s) => s.closed)),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('slow-header sockets still open after 10 s')), 10_000)),
      ]);
      for (const answer of answers) {
        expect(answer).to.match(/^HTTP\/1\.1 408 /);
        expect(answer).to.include('"error":"request_timeout"');
      }
    } finally {
      for (const { socket, dribble } of slow) {
        clearInterval(dribble);
        socket.destroy();
      }
    }
  });

  it('slow-header clients are cut off after their 408: 100 of them leave no descriptor open at the gateway', async () => {
    const descriptors = () => readdirSync('/proc/self/fd').length;
    const baseline = descriptors();
    // The clients live in another process, so that this process's descriptors are the gateway's.
    // They never close their side (allowHalfOpen), as an attacker holding sockets would not.
    const script = `
      const net = require('node:net');
      let connected = 0;
      for (let i = 0; i < 100; i += 1) {
        const socket = net.connect({ port: ${stack.gateway.port}, host: '127.0.0.1', allowHalfOpen: true }, () => {
          socket.write('GET /whoami HTTP/1.1\\r\\nHost: gateway\\r\\n');
          if (++connected === 100) console.log('connected');
        });
        socket.on('error', () => {});
        socket.on('data', () => {});
      }
      setInterval(() => {}, 1000);
    `;
    const clients = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        clients.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('connected') && resolve());
        clients.once('exit', (code) => reject(new Error(`client process exited (${code})`)));
      });
      await eventually(async () => descriptors() >= baseline + 90, 'the gateway holds the 100 slow connections', 5000);
      // HEADERS_TIMEOUT is 500 ms here: after the 408s every one of those sockets must be gone,
      // while the clients still hold their ends open.
      await eventually(async () => descriptors() <= baseline + 5, `descriptors back to ${baseline} (now ${descriptors()})`, 10_000);
      expect(clients.exitCode, 'the clients are still there, holding their ends').to.equal(null);
    } finally {
      clients.kill('SIGKILL');
    }
  });
});

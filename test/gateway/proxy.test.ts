import { expect } from 'chai';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { requestFraming } from '../../gateway/pipeline/framing.ts';
import { UpstreamProxy } from '../../gateway/pipeline/proxy.ts';
import { compileRoutes, type Route } from '../../gateway/routes/schema.ts';
import { testLogger } from './helpers/fake-authority.ts';
import { rejectionOf } from '../support/rejection.ts';

interface Listening {
  server: http.Server;
  url: string;
  close(): Promise<void>;
}

async function listen(handler: http.RequestListener): Promise<Listening> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A port nothing listens on: bind one, note it, close it. */
async function deadPort(): Promise<number> {
  const probe = await listen(() => undefined);
  const port = Number(new URL(probe.url).port);
  await probe.close();
  return port;
}

describe('gateway: proxy', () => {
  let proxy: UpstreamProxy;
  let gateway: Listening;
  let upstream: Listening | undefined;
  let upstreamUrl = '';
  let timeout = '5s';
  /** Headers the gateway adds to the upstream's response (a renewed session cookie). */
  let ownHeaders: (() => string[]) | undefined;

  beforeEach(async () => {
    ownHeaders = undefined;
    proxy = new UpstreamProxy({
      keepAliveIdleMs: 4000,
      defaultTimeoutMs: 5000,
      logger: testLogger(),
      reservedCookies: new Set(['session']),
    });
    timeout = '5s';
    // The gateway side: forwards everything to `upstreamUrl` as it is when the request arrives.
    gateway = await listen((req, res) => {
      const [route] = compileRoutes({ routes: [{ id: 'up', prefix: '/', upstream: upstreamUrl, auth: 'none', timeout }] }, {}, 'test') as [
        Route,
      ];
      expect(route).to.be.ok;
      const headers = { ...req.headers };
      for (const owned of ['connection', 'host', 'content-length', 'transfer-encoding']) delete headers[owned];
      proxy.forward(req, res, { route, path: req.url ?? '/', headers, responseHeaders: ownHeaders }, requestFraming(req.headers));
    });
  });
  afterEach(async () => {
    proxy.close();
    await gateway.close();
    await upstream?.close();
    upstream = undefined;
  });

  it('streams request and response bodies through, reusing a keep-alive connection', async () => {
    const remotePorts: number[] = [];
    upstream = await listen((req, res) => {
      remotePorts.push(req.socket.remotePort ?? 0);
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        res.writeHead(201, { 'content-type': 'text/plain', connection: 'keep-alive', 'keep-alive': 'timeout=17, max=3' });
        res.end(`${req.method} ${req.url} ${body.length}`);
      });
    });
    upstreamUrl = upstream.url;
    const big = 'x'.repeat(1_000_000);
    const first = await fetch(`${gateway.url}/echo?q=1`, { method: 'POST', body: big });
    expect(first.status).to.equal(201);
    expect(await first.text()).to.equal('POST /echo?q=1 1000000');
    expect(first.headers.get('keep-alive') ?? '', "the upstream's keep-alive parameters are not passed on").to.not.match(/17|max/);
    const second = await fetch(`${gateway.url}/again`);
    expect(await second.text()).to.equal('GET /again 0');
    expect(remotePorts.length).to.equal(2);
    expect(remotePorts[0], 'both requests used the same upstream connection').to.equal(remotePorts[1]);
  });

  it('adds its own Set-Cookie next to the upstream’s, and its Cache-Control in place of the upstream’s', async () => {
    upstream = await listen((_req, res) => {
      res.writeHead(200, {
        'Set-Cookie': 'theme=dark',
        'Cache-Control': 'public, max-age=600',
        'CDN-Cache-Control': 'max-age=600',
        'Surrogate-Control': 'max-age=600',
        'content-type': 'text/plain',
      });
      res.end('page');
    });
    upstreamUrl = upstream.url;
    ownHeaders = () => ['set-cookie', 'session=renewed', 'cache-control', 'private, no-store'];
    const response = await fetch(`${gateway.url}/page`);
    expect(await response.text()).to.equal('page');
    expect(response.headers.getSetCookie()).to.deep.equal(['theme=dark', 'session=renewed']);
    expect(response.headers.get('cache-control'), 'a shared cache must never store a session cookie').to.equal('private, no-store');
    expect(response.headers.get('cdn-cache-control'), 'nor one that reads its own field').to.equal(null);
    expect(response.headers.get('surrogate-control')).to.equal(null);

    ownHeaders = () => [];
    const untouched = await fetch(`${gateway.url}/page`);
    expect(untouched.headers.get('cache-control')).to.equal('public, max-age=600');
    expect(untouched.headers.get('cdn-cache-control')).to.equal('max-age=600');
    expect(untouched.headers.getSetCookie()).to.deep.equal(['theme=dark']);
  });

  it('never lets an upstream set or clear the gateway’s own cookie (an app whose cookie is also named session)', async () => {
    upstream = await listen((_req, res) => {
      res.setHeader('Set-Cookie', ['session=app-state; Path=/', ' session =; Max-Age=0', 'sessionid=kept', 'theme=dark']);
      res.end('ok');
    });
    upstreamUrl = upstream.url;
    const response = await fetch(`${gateway.url}/`);
    expect(await response.text()).to.equal('ok');
    expect(response.headers.getSetCookie()).to.deep.equal(['sessionid=kept', 'theme=dark']);
  });

  it('answers 502 JSON when the upstream refuses the connection', async () => {
    upstreamUrl = `http://127.0.0.1:${await deadPort()}`;
    const response = await fetch(`${gateway.url}/x`);
    expect(response.status).to.equal(502);
    expect(response.headers.get('content-type') ?? '').to.match(/application\/json/);
    expect(await response.json()).to.deep.equal({ error: 'bad_gateway', error_description: 'upstream unavailable' });
  });

  it('answers 504 JSON when the upstream is slower than the route timeout, and abandons the upstream request', async () => {
    const upstreamClosed: Promise<unknown>[] = [];
    upstream = await listen((req) => {
      upstreamClosed.push(once(req.socket, 'close')); // never answers
    });
    upstreamUrl = upstream.url;
    timeout = '150ms';
    const response = await fetch(`${gateway.url}/slow`);
    expect(response.status).to.equal(504);
    expect(await response.json()).to.deep.equal({ error: 'upstream_timeout', error_description: 'upstream did not answer within 150 ms' });
    expect(upstreamClosed.length).to.equal(1);
    await upstreamClosed[0]; // the gateway destroyed its request, closing the upstream socket
  });

  it('destroys the upstream request when the client goes away (http-proxy #1586)', async () => {
    let upstreamRequestClosed: Promise<unknown> | undefined;
    let arrivedUpstream = () => undefined as void;
    const arrived = new Promise<void>((resolve) => (arrivedUpstream = resolve));
    upstream = await listen((req) => {
      upstreamRequestClosed = once(req.socket, 'close'); // never answers: a long poll
      arrivedUpstream();
    });
    upstreamUrl = upstream.url;
    const client = http.get(`${gateway.url}/long-poll`);
    client.on('error', () => undefined);
    await arrived;
    client.destroy();
    // Without the fix the keep-alive upstream connection stays open and this never resolves.
    await upstreamRequestClosed;
    expect(proxy.abandonedByClient).to.equal(1);
  });

  it('cuts the client off when the upstream dies mid-response rather than pretending it completed', async () => {
    upstream = await listen((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' });
      res.write('partial');
      setImmediate(() => req.socket.destroy());
    });
    upstreamUrl = upstream.url;
    await rejectionOf(async () => {
      const response = await fetch(`${gateway.url}/broken`);
      expect(response.status).to.equal(200);
      await response.text();
    });
  });
});

import http from 'node:http';
import { expect } from 'chai';
import { DEMO_SERVICE_CLIENT, GATEWAY_CLIENT, startTestTokenService, useTestTokenService } from '../support/token-service.ts';
import { basic, registerAndLogin, request } from '../support/http.ts';

interface FeedEntry {
  id: number;
  kind: string;
  key: string;
  not_before: string | null;
  expires_at: string;
}

/** A minimal SSE reader for the test: collects events until stopped. */
function openStream(base: string, headers: Record<string, string> = {}) {
  const events: Array<{ id?: string; event: string; data: string }> = [];
  let statusCode = 0;
  const waiters: Array<() => void> = [];
  const req = http.get(`${base}/revocations/stream`, {
    headers: { accept: 'text/event-stream', authorization: basic(GATEWAY_CLIENT.id, GATEWAY_CLIENT.secret), ...headers },
  });
  const opened = new Promise<void>((resolve) => {
    req.on('response', (res) => {
      statusCode = res.statusCode ?? 0;
      resolve();
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields: Record<string, string> = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const colon = line.indexOf(':');
            if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1).trimStart();
          }
          if (fields.data !== undefined) events.push({ id: fields.id, event: fields.event ?? 'message', data: fields.data });
          waiters.splice(0).forEach((wake) => wake());
        }
      });
    });
  });
  req.on('error', () => undefined);
  const until = async (predicate: () => boolean, what: string): Promise<void> => {
    const deadline = Date.now() + 5000;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`stream: timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  };
  return {
    opened,
    events,
    get status() {
      return statusCode;
    },
    revocations: () => events.filter((e) => e.event === 'revocation').map((e) => JSON.parse(e.data) as FeedEntry),
    until,
    close: () => req.destroy(),
  };
}

describe('token service: revocation feed for gateways', () => {
  const gatewayAuth = { authorization: basic(GATEWAY_CLIENT.id, GATEWAY_CLIENT.secret) };
  const svc = useTestTokenService();

  const logout = (token: string) => request(svc.url, 'POST', '/auth/logout', { token });
  const sidOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).sid as string;

  it('requires a confidential client with revocations:read', async () => {
    expect((await request(svc.url, 'GET', '/revocations')).status).to.equal(401);
    const noScope = await request(svc.url, 'GET', '/revocations', {
      headers: { authorization: basic(DEMO_SERVICE_CLIENT.id, DEMO_SERVICE_CLIENT.secret) },
    });
    expect(noScope.status).to.equal(401);
    expect(noScope.body.error).to.equal('invalid_client');
    const stream = openStream(svc.url, { authorization: basic(GATEWAY_CLIENT.id, 'wrong') });
    await stream.opened;
    expect(stream.status).to.equal(401);
    stream.close();
  });

  it('pages through live entries after a cursor, in id order', async () => {
    const start = (await request<{ cursor: number }>(svc.url, 'GET', '/revocations?after=0', { headers: gatewayAuth })).body.cursor;
    const sids: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const { tokens } = await registerAndLogin(svc.url);
      sids.push(sidOf(tokens.access_token));
      expect((await logout(tokens.access_token)).status).to.equal(204);
    }
    const page1 = await request<{ revocations: FeedEntry[]; cursor: number; has_more: boolean }>(
      svc.url,
      'GET',
      `/revocations?after=${start}&limit=2`,
      { headers: gatewayAuth },
    );
    expect(page1.status).to.equal(200);
    expect(page1.body.revocations.map((e) => e.key)).to.deep.equal(sids.slice(0, 2));
    expect(page1.body.has_more).to.equal(true);
    const page2 = await request<{ revocations: FeedEntry[]; cursor: number; has_more: boolean }>(
      svc.url,
      'GET',
      `/revocations?after=${page1.body.cursor}&limit=2`,
      { headers: gatewayAuth },
    );
    expect(page2.body.revocations.map((e) => e.key)).to.deep.equal(sids.slice(2));
    expect(page2.body.has_more).to.equal(false);
    const entry = page2.body.revocations[0]!;
    expect(entry.kind).to.equal('session');
    expect(Date.parse(entry.expires_at)).to.be.greaterThan(Date.now());
  });

  it('leaves out entries whose covered tokens have all expired', async () => {
    const { tokens } = await registerAndLogin(svc.url);
    await logout(tokens.access_token);
    const sid = sidOf(tokens.access_token);
    await svc.service
      .knex('revocations')
      .where({ key: sid })
      .update({ expires_at: new Date(Date.now() - 1000) });
    const all = await request<{ revocations: FeedEntry[] }>(svc.url, 'GET', '/revocations?after=0', { headers: gatewayAuth });
    expect(all.body.revocations.map((e) => e.key)).not.to.include(sid);
  });

  it('streams each committed revocation live, and replays from Last-Event-ID', async () => {
    const stream = openStream(svc.url);
    await stream.opened;
    expect(stream.status).to.equal(200);
    await stream.until(() => stream.events.some((e) => e.event === 'ready'), 'ready');

    const first = await registerAndLogin(svc.url);
    await logout(first.tokens.access_token);
    const sid = sidOf(first.tokens.access_token);
    await stream.until(() => stream.revocations().some((e) => e.key === sid), 'the logout');
    const seen = stream.revocations().find((e) => e.key === sid)!;
    expect(stream.events.find((e) => e.event === 'revocation' && JSON.parse(e.data).key === sid)?.id).to.equal(String(seen.id));
    stream.close();

    // Revocations made while disconnected are replayed on reconnect.
    const missed = await registerAndLogin(svc.url);
    await request(svc.url, 'POST', '/auth/logout', { token: missed.tokens.access_token, json: { scope: 'global' } });
    const resumed = openStream(svc.url, { 'last-event-id': String(seen.id) });
    await resumed.until(() => resumed.events.some((e) => e.event === 'ready'), 'ready after replay');
    const replayed = resumed.revocations();
    // A global logout is one entry for the user.
    expect(replayed.map((e) => `${e.kind}:${e.key}`)).to.include(`user:${missed.userId}`);
    expect(replayed.map((e) => e.key)).not.to.include(sid);
    expect(replayed.every((e) => e.id > seen.id)).to.equal(true);
    resumed.close();
  });

  it('relays revocations made through another instance on the same database', async function () {
    if (svc.database.kind === 'pglite') this.skip(); // one process per PGlite directory: covered on PostgreSQL
    const other = await startTestTokenService({ database: svc.database });
    try {
      const stream = openStream(svc.url);
      await stream.until(() => stream.events.some((e) => e.event === 'ready'), 'ready');
      const { tokens } = await registerAndLogin(other.url);
      await request(other.url, 'POST', '/auth/logout', { token: tokens.access_token });
      const sid = sidOf(tokens.access_token);
      await stream.until(() => stream.revocations().some((e) => e.key === sid), "the other instance's logout");
      stream.close();
    } finally {
      await other.close();
    }
  });
});

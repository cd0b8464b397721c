import { PassThrough } from 'node:stream';
import { expect } from 'chai';
import { createLogger } from '../../common/logger.ts';
import { useTestTokenService } from '../support/token-service.ts';
import { refresh, registerAndLogin, request } from '../support/http.ts';

/** The value of one sample in Prometheus text, or undefined. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('token service: metrics and request logs', () => {
  const logLines: Array<Record<string, unknown>> = [];
  const svc = useTestTokenService(() => {
    const destination = new PassThrough();
    destination.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line));
    });
    return { env: { METRICS_TOKEN: 'metrics-token-0123456789' }, logger: createLogger({ name: 'token', level: 'info', destination }) };
  });

  const metrics = async () => {
    const reply = await request(svc.url, 'GET', '/metrics', { headers: { authorization: 'Bearer metrics-token-0123456789' } });
    expect(reply.status).to.equal(200);
    expect(reply.headers.get('content-type')).to.match(/^text\/plain/);
    return reply.text;
  };

  it('requires METRICS_TOKEN when it is set', async () => {
    expect((await request(svc.url, 'GET', '/metrics')).status).to.equal(401);
    expect((await request(svc.url, 'GET', '/metrics', { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).to.equal(
      401,
    );
  });

  it('counts issuance by grant, refresh outcomes, reuse, revocations by kind and login failures', async () => {
    const before = await metrics();
    const { user, tokens } = await registerAndLogin(svc.url);
    const rotated = await refresh(svc.url, tokens.refresh_token);
    // Revoked while its family lives: once the family is revoked (reuse, below) this would write nothing.
    await request(svc.url, 'POST', '/oauth/revoke', { form: { token: rotated.body.access_token, client_id: 'web' } });
    await request(svc.url, 'POST', '/auth/login', { json: { username: user.username, password: 'Wrong-password-1' } });
    await svc.service
      .knex('refresh_tokens')
      .whereNotNull('consumed_at')
      .update({ consumed_at: new Date(Date.now() - 60_000) });
    await refresh(svc.url, tokens.refresh_token);
    const second = await registerAndLogin(svc.url);
    await request(svc.url, 'POST', '/auth/logout', { token: second.tokens.access_token });
    const after = await metrics();

    const delta = (name: string, labels = '') => (sample(after, name, labels) ?? 0) - (sample(before, name, labels) ?? 0);
    expect(delta('token_issued_total', 'grant="password"')).to.equal(2);
    expect(delta('token_issued_total', 'grant="refresh_token"')).to.equal(1);
    expect(delta('token_refresh_total', 'outcome="rotated"')).to.equal(1);
    expect(delta('token_refresh_total', 'outcome="reuse_detected"')).to.equal(1);
    expect(delta('token_revocations_total', 'kind="session"')).to.equal(2);
    expect(delta('token_revocations_total', 'kind="token"')).to.equal(1);
    expect(delta('token_login_failures_total', 'reason="invalid_credentials"')).to.equal(1);
    expect(sample(after, 'token_db_pool_connections', 'state="used"')).to.be.a('number');
    expect(sample(after, 'process_resident_memory_bytes')).to.be.greaterThan(0);
    expect(after).to.include('token_http_request_duration_seconds_bucket');
  });

  it('logs one line per request with its request id and route, keeping a sane incoming id', async () => {
    const reply = await request(svc.url, 'GET', '/.well-known/jwks.json', { headers: { 'x-request-id': 'trace-abc-12345' } });
    expect(reply.headers.get('x-request-id')).to.equal('trace-abc-12345');
    const generated = await request(svc.url, 'GET', '/healthz', { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(generated.headers.get('x-request-id')).to.match(/^[0-9a-f-]{36}$/);
    const line = logLines.find((entry) => entry.requestId === 'trace-abc-12345');
    expect(line).to.include({ msg: 'request', method: 'GET', route: '/.well-known/jwks.json', status: 200 });
    expect(line?.latencyMs).to.be.a('number');
  });

  it('never logs a token or a password', async () => {
    const { user, tokens } = await registerAndLogin(svc.url);
    await refresh(svc.url, tokens.refresh_token);
    await request(svc.url, 'GET', '/auth/me', { token: tokens.access_token });
    const everything = JSON.stringify(logLines);
    expect(logLines.length).to.be.greaterThan(3);
    for (const secret of [tokens.access_token, tokens.refresh_token, user.password]) expect(everything).not.to.include(secret);
  });
});

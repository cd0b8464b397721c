import { expect } from 'chai';
import { registerAndLogin, request } from '../support/http.ts';
import { eventually, startStack, type Stack } from '../support/stack.ts';

function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('end to end: gateway metrics', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ gateway: { metricsToken: 'gateway-metrics-0123456789' } });
  });
  after(() => stack?.stop());

  const scrape = async () => {
    const reply = await request(stack.gateway.url, 'GET', '/metrics', { headers: { authorization: 'Bearer gateway-metrics-0123456789' } });
    expect(reply.status).to.equal(200);
    return reply.text;
  };

  it('requires METRICS_TOKEN when configured', async () => {
    const reply = await request(stack.gateway.url, 'GET', '/metrics');
    expect(reply.status).to.equal(401);
  });

  it('counts requests, auth outcomes, upstream latency, revocation propagation, feed and denylist state', async () => {
    const { tokens } = await registerAndLogin(stack.token.url);
    expect((await request(stack.gateway.url, 'GET', '/whoami', { token: tokens.access_token })).status).to.equal(200);
    await request(stack.token.url, 'POST', '/auth/logout', { token: tokens.access_token });
    await eventually(
      async () => (await request(stack.gateway.url, 'GET', '/whoami', { token: tokens.access_token })).status === 401,
      'revoked',
    );
    await request(stack.gateway.url, 'GET', '/whoami');

    const text = await scrape();
    expect(sample(text, 'gateway_requests_total', 'route="whoami",status="200"')).to.be.at.least(1);
    expect(sample(text, 'gateway_requests_total', 'route="whoami",status="401"')).to.be.at.least(2);
    expect(sample(text, 'gateway_auth_outcomes_total', 'outcome="authenticated",reason=""')).to.be.at.least(1);
    expect(sample(text, 'gateway_auth_outcomes_total', 'outcome="invalid_token",reason="session revoked"')).to.be.at.least(1);
    expect(sample(text, 'gateway_upstream_response_seconds_count', 'route="whoami"')).to.equal(
      sample(text, 'gateway_requests_total', 'route="whoami",status="200"'),
    );
    expect(sample(text, 'gateway_revocation_propagation_seconds_count')).to.be.at.least(1);
    expect(sample(text, 'gateway_revocation_feed_connected')).to.equal(1);
    expect(sample(text, 'gateway_denylist_entries', 'kind="session"')).to.be.at.least(1);
    expect(sample(text, 'gateway_jwks_fetches', 'cause="all"')).to.be.at.least(1);
    expect(sample(text, 'gateway_token_verifications', 'result="verified"')).to.be.at.least(1);
  });
});

// Gateway configuration: the WebSocket settings are validated at start, with an
// error naming the variable (WEBSOCKET_MAX_MESSAGE_SIZE becomes ws's maxPayload,
// where 0 or anything past 32 bits would mean "no limit").
import { expect } from 'chai';
import { ConfigError } from '../../common/env.ts';
import { parseByteSize } from '../../common/size.ts';
import { loadConfig } from '../../gateway/config.ts';

function problemsOf(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error instanceof ConfigError).to.be.ok;
    return (error as ConfigError).problems.join('\n');
  }
  expect.fail(`accepted ${JSON.stringify(env)}`);
}

describe('gateway: configuration', () => {
  it('parses sizes as bytes or binary units', () => {
    expect(parseByteSize('1048576')).to.equal(2 ** 20);
    expect(parseByteSize('512KiB')).to.equal(512 * 1024);
    expect(parseByteSize('1 MiB')).to.equal(2 ** 20);
    expect(parseByteSize('1.5mib')).to.equal(1.5 * 2 ** 20);
    expect(parseByteSize('1GiB')).to.equal(2 ** 30);
    for (const bad of ['1MB', '1 KB', 'lots', '-1', '', '1e6', '0x10']) expect(parseByteSize(bad), bad).to.equal(undefined);
  });

  it('defaults WEBSOCKET_MAX_MESSAGE_SIZE to 1 MiB and reads it', () => {
    expect(loadConfig({}).websocketMaxMessageBytes).to.equal(2 ** 20);
    expect(loadConfig({ WEBSOCKET_MAX_MESSAGE_SIZE: '64KiB' }).websocketMaxMessageBytes).to.equal(65_536);
    expect(loadConfig({ WEBSOCKET_MAX_MESSAGE_SIZE: '1GiB' }).websocketMaxMessageBytes).to.equal(2 ** 30);
  });

  it('defaults WEBSOCKET_STALL_TIMEOUT to 60 s and refuses 0 or junk, naming it', () => {
    expect(loadConfig({}).websocketStallTimeoutMs).to.equal(60_000);
    expect(loadConfig({ WEBSOCKET_STALL_TIMEOUT: '5s' }).websocketStallTimeoutMs).to.equal(5000);
    for (const bad of ['0', 'soon']) expect(problemsOf({ WEBSOCKET_STALL_TIMEOUT: bad }), bad).to.match(/^WEBSOCKET_STALL_TIMEOUT: /);
  });

  it('refuses a malformed, zero or unbounded WEBSOCKET_MAX_MESSAGE_SIZE, naming it', () => {
    for (const bad of ['1MB', 'lots', '0', '2GiB', '4GiB']) {
      expect(problemsOf({ WEBSOCKET_MAX_MESSAGE_SIZE: bad }), bad).to.match(/^WEBSOCKET_MAX_MESSAGE_SIZE: expected /);
    }
  });
});

describe('gateway: each setting read into its field', () => {
  it('maps every variable, including the optional ones', () => {
    const config = loadConfig({
      GATEWAY_PORT: '9000',
      GATEWAY_HOST: '0.0.0.0',
      TOKEN_ISSUER: 'https://auth.example.com',
      TOKEN_SERVICE_URL: 'http://token:4000',
      GATEWAY_CLIENT_ID: 'edge',
      GATEWAY_CLIENT_SECRET: 'an-edge-secret-0123456789',
      GATEWAY_ROUTES: '/etc/routes.json',
      REVOCATION_MAX_STALENESS: '2m',
      METRICS_TOKEN: 'a-metrics-token-0123',
      GATEWAY_STRIP_HEADERS: 'x-debug, X-Trace',
      LOG_LEVEL: 'warn',
    });
    expect(config.port).to.equal(9000);
    expect(config.host).to.equal('0.0.0.0');
    expect(config.issuer).to.equal('https://auth.example.com');
    expect(config.tokenServiceUrl).to.equal('http://token:4000');
    expect(config.clientId).to.equal('edge');
    expect(config.clientSecret).to.equal('an-edge-secret-0123456789');
    expect(config.routes).to.equal('/etc/routes.json');
    expect(config.revocationMaxStalenessMs).to.equal(120_000);
    expect(config.metricsToken).to.equal('a-metrics-token-0123');
    expect(config.stripHeaders).to.deep.equal(['x-debug', 'X-Trace']);
    expect(config.logLevel).to.equal('warn');
  });

  it('leaves the optional ones unset by default, and refuses a bad LOG_LEVEL naming it', () => {
    const config = loadConfig({});
    expect(config.tokenServiceUrl).to.equal(undefined);
    expect(config.revocationMaxStalenessMs).to.equal(undefined);
    expect(config.metricsToken).to.equal(undefined);
    expect(config.logLevel).to.equal('info');
    expect(loadConfig({ REVOCATION_MAX_STALENESS: '0' }).revocationMaxStalenessMs).to.equal(undefined);
    expect(problemsOf({ LOG_LEVEL: 'loud' })).to.match(/^LOG_LEVEL: /);
  });
});

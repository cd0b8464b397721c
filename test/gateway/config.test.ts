// Gateway configuration: the WebSocket settings are validated at start, with an
// error naming the variable (WEBSOCKET_MAX_MESSAGE_SIZE becomes ws's maxPayload,
// where 0 or anything past 32 bits would mean "no limit").
import assert from 'node:assert/strict';
import { ConfigError } from '../../common/env.ts';
import { parseByteSize } from '../../common/size.ts';
import { loadConfig } from '../../gateway/config.ts';

function problemsOf(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems.join('\n');
  }
  assert.fail(`accepted ${JSON.stringify(env)}`);
}

describe('gateway: configuration', () => {
  it('parses sizes as bytes or binary units', () => {
    assert.equal(parseByteSize('1048576'), 2 ** 20);
    assert.equal(parseByteSize('512KiB'), 512 * 1024);
    assert.equal(parseByteSize('1 MiB'), 2 ** 20);
    assert.equal(parseByteSize('1.5mib'), 1.5 * 2 ** 20);
    assert.equal(parseByteSize('1GiB'), 2 ** 30);
    for (const bad of ['1MB', '1 KB', 'lots', '-1', '', '1e6', '0x10']) assert.equal(parseByteSize(bad), undefined, bad);
  });

  it('defaults WEBSOCKET_MAX_MESSAGE_SIZE to 1 MiB and reads it', () => {
    assert.equal(loadConfig({}).websocketMaxMessageBytes, 2 ** 20);
    assert.equal(loadConfig({ WEBSOCKET_MAX_MESSAGE_SIZE: '64KiB' }).websocketMaxMessageBytes, 65_536);
    assert.equal(loadConfig({ WEBSOCKET_MAX_MESSAGE_SIZE: '1GiB' }).websocketMaxMessageBytes, 2 ** 30);
  });

  it('defaults WEBSOCKET_STALL_TIMEOUT to 60 s and refuses 0 or junk, naming it', () => {
    assert.equal(loadConfig({}).websocketStallTimeoutMs, 60_000);
    assert.equal(loadConfig({ WEBSOCKET_STALL_TIMEOUT: '5s' }).websocketStallTimeoutMs, 5000);
    for (const bad of ['0', 'soon']) assert.match(problemsOf({ WEBSOCKET_STALL_TIMEOUT: bad }), /^WEBSOCKET_STALL_TIMEOUT: /, bad);
  });

  it('refuses a malformed, zero or unbounded WEBSOCKET_MAX_MESSAGE_SIZE, naming it', () => {
    for (const bad of ['1MB', 'lots', '0', '2GiB', '4GiB']) {
      assert.match(problemsOf({ WEBSOCKET_MAX_MESSAGE_SIZE: bad }), /^WEBSOCKET_MAX_MESSAGE_SIZE: expected /, bad);
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
    assert.equal(config.port, 9000);
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.issuer, 'https://auth.example.com');
    assert.equal(config.tokenServiceUrl, 'http://token:4000');
    assert.equal(config.clientId, 'edge');
    assert.equal(config.clientSecret, 'an-edge-secret-0123456789');
    assert.equal(config.routes, '/etc/routes.json');
    assert.equal(config.revocationMaxStalenessMs, 120_000);
    assert.equal(config.metricsToken, 'a-metrics-token-0123');
    assert.deepEqual(config.stripHeaders, ['x-debug', 'X-Trace']);
    assert.equal(config.logLevel, 'warn');
  });

  it('leaves the optional ones unset by default, and refuses a bad LOG_LEVEL naming it', () => {
    const config = loadConfig({});
    assert.equal(config.tokenServiceUrl, undefined);
    assert.equal(config.revocationMaxStalenessMs, undefined);
    assert.equal(config.metricsToken, undefined);
    assert.equal(config.logLevel, 'info');
    assert.equal(loadConfig({ REVOCATION_MAX_STALENESS: '0' }).revocationMaxStalenessMs, undefined);
    assert.match(problemsOf({ LOG_LEVEL: 'loud' }), /^LOG_LEVEL: /);
  });
});

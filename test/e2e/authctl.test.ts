// The admin CLI as operators run it: a separate process, on the same database
// as the service (directly, or through the running service's admin endpoint
// when the service holds the embedded database).
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import * as jose from 'jose';
import { login, newUser, refresh, registerAndLogin, request } from '../support/http.ts';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '../support/databases.ts';
import { eventually, startStack, type Stack } from '../support/stack.ts';

const run = promisify(execFile);
const CLI = path.resolve('services/token/cli/authctl.ts');
const BIN = path.resolve('bin/authctl.js');

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function authctl(env: Record<string, string>, ...args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', CLI, ...args], {
      env: { PATH: process.env.PATH, PASSWORD_HASH_COST: '12', ...env },
      timeout: 90_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

describe('authctl on its own (no service running; the embedded database, or PostgreSQL under TEST_DATABASE_URL)', function () {
  // Every invocation is a new process that opens the database (and boots it, when embedded).
  this.timeout(300_000);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'authctl-'));
  let database: TestDatabase | undefined;
  let env: Record<string, string> = { DATA_DIR: dataDir };
  before(async () => {
    if (!testDatabaseUrl()) return;
    database = await createTestDatabase();
    env = database.env;
  });
  after(async () => {
    fs.rmSync(dataDir, { recursive: true, force: true });
    await database?.drop();
  });

  it('prints help, and exits 2 on usage errors', async () => {
    const help = await authctl(env, '--help');
    expect(help.code).to.equal(0);
    expect(help.stdout).to.include('user create').and.include('revoke --session');
    const unknown = await authctl(env, 'frobnicate');
    expect(unknown.code).to.equal(2);
    expect(unknown.stderr).to.include('unknown command: frobnicate');
    const both = await authctl(env, 'revoke', '--user', 'a', '--session', 'b');
    expect(both.code).to.equal(2);
  });

  it('migrates, creates and lists users and clients; a secret is shown once and stored hashed', async () => {
    expect((await authctl(env, 'migrate')).code).to.equal(0);
    const created = await authctl(
      env,
      'user',
      'create',
      '--username',
      'carol',
      '--email',
      'carol@example.com',
      '--password',
      'Correct-Horse-9',
      '--json',
    );
    expect(created.code, created.stderr).to.equal(0);
    expect(JSON.parse(created.stdout)).to.include({ username: 'carol' });
    const weak = await authctl(env, 'user', 'create', '--username', 'dave', '--email', 'dave@example.com', '--password', 'short');
    expect(weak.code).to.equal(1);
    expect(weak.stderr).to.include('password must be at least');
    const users = JSON.parse((await authctl(env, 'user', 'list', '--json')).stdout) as Array<{ username: string }>;
    expect(users.map((u) => u.username)).to.include('carol');

    const client = await authctl(
      env,
      'client',
      'create',
      '--client-id',
      'reports',
      '--grant-types',
      'client_credentials',
      '--scopes',
      'notes:read',
      '--json',
    );
    const { client_secret: secret } = JSON.parse(client.stdout) as { client_secret: string };
    expect(secret).to.match(/^[A-Za-z0-9_-]{43}$/);
    const userShaped = await authctl(env, 'client', 'create', '--client-id', crypto.randomUUID(), '--grant-types', 'client_credentials');
    expect(userShaped.code, 'a client id of the user-id form').to.equal(1);
    expect(userShaped.stderr).to.include('client_id must not have the form of a user id');
    const listed = await authctl(env, 'client', 'list', '--json');
    expect(listed.stdout).to.include('reports').and.not.include(secret);
    expect((await authctl(env, 'client', 'delete', '--client-id', 'web')).code, 'the first-party client stays').to.equal(1);
    expect((await authctl(env, 'client', 'delete', '--client-id', 'reports')).code).to.equal(0);
  });

  it('client create and update take every client field as a flag; a bad one is named, never a stack trace', async () => {
    const created = await authctl(
      env,
      'client',
      'create',
      '--client-id',
      'spa',
      '--name',
      'Single-page app',
      '--redirect-uris',
      'https://app.example/cb,http://127.0.0.1/cb',
      '--post-logout-redirect-uris',
      'https://app.example/',
      '--backchannel-logout-uri',
      'https://app.example/logout',
      '--first-party',
      '--token-endpoint-auth-method',
      'none',
      '--rotate-refresh-tokens',
      '--json',
    );
    expect(created.code, created.stderr).to.equal(0);
    const spa = {
      client_id: 'spa',
      name: 'Single-page app',
      type: 'public',
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: ['https://app.example/cb', 'http://127.0.0.1/cb'],
      post_logout_redirect_uris: ['https://app.example/'],
      backchannel_logout_uri: 'https://app.example/logout',
      first_party: true,
      token_endpoint_auth_method: 'none',
      rotate_refresh_tokens: true,
    };
    expect(JSON.parse(created.stdout)).to.deep.include(spa);

    const updated = await authctl(env, 'client', 'update', '--client-id', 'spa', '--no-first-party', '--json');
    expect(updated.code, updated.stderr).to.equal(0);
    expect(JSON.parse(updated.stdout)).to.deep.include({ ...spa, first_party: false });

    const badRedirect = await authctl(env, 'client', 'create', '--client-id', 'evil', '--redirect-uris', 'http://evil.example/cb');
    expect(badRedirect.code).to.equal(1);
    expect(badRedirect.stderr).to.equal('authctl: --redirect-uris (item 1): http://evil.example/cb: plain http only for loopback hosts\n');
    const publicWithSecret = await authctl(
      env,
      'client',
      'update',
      '--client-id',
      'spa',
      '--token-endpoint-auth-method',
      'client_secret_basic',
    );
    expect(publicWithSecret.code).to.equal(1);
    expect(publicWithSecret.stderr).to.match(/^authctl: --token-endpoint-auth-method: client_secret_basic needs a client secret/);
    const valued = await authctl(env, 'client', 'update', '--client-id', 'spa', '--rotate-refresh-tokens', 'false');
    expect(valued.code, 'a boolean flag given a value').to.equal(2);
    expect(valued.stderr).to.include('unexpected argument: false');

    const listed = JSON.parse((await authctl(env, 'client', 'list', '--json')).stdout) as Array<{ client_id: string }>;
    expect(listed.find((client) => client.client_id === 'spa')).to.deep.include({ ...spa, first_party: false });
    expect(listed.map((client) => client.client_id)).to.not.include('evil');
  });

  it('with the database unreachable, says so in one line and exits 3', async () => {
    // A port that was just free: nothing answers there.
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    const result = await authctl({ DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/nowhere` }, 'user', 'list');
    expect(result.code).to.equal(3);
    expect(result.stdout).to.equal('');
    expect(result.stderr.trimEnd().split('\n'), result.stderr).to.have.length(1);
    expect(result.stderr).to.match(/^authctl: cannot reach the database \(.*ECONNREFUSED.*\); check DATABASE_URL\n$/);
  });

  it('exits 1 with a clear message for an unknown user', async () => {
    const result = await authctl(env, 'sessions', 'list', '--user', 'nobody-at-all');
    expect(result.code).to.equal(1);
    expect(result.stderr).to.include('no user nobody-at-all');
  });
});

describe('bin/authctl.js (npx authctl)', function () {
  this.timeout(60_000);

  it('runs the sources through tsx in a development checkout', async () => {
    // A copy of the bin beside the sources and no dist/ (this checkout may have been built, as CI does).
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'authctl-src-'));
    try {
      fs.mkdirSync(path.join(root, 'bin'));
      fs.copyFileSync(BIN, path.join(root, 'bin/authctl.js'));
      fs.copyFileSync(path.resolve('package.json'), path.join(root, 'package.json'));
      for (const dir of ['node_modules', 'services', 'db', 'common', 'contract']) fs.symlinkSync(path.resolve(dir), path.join(root, dir));
      const { stdout } = await run(process.execPath, [path.join(root, 'bin/authctl.js'), '--help'], { env: { PATH: process.env.PATH } });
      expect(stdout).to.include('user enable');
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('runs the compiled CLI when there is one, without needing tsx (npm ci --omit=dev)', async () => {
    // A copy of the bin beside a stand-in for dist/ and no node_modules at all: importing tsx would fail.
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'authctl-bin-'));
    try {
      fs.mkdirSync(path.join(root, 'bin'));
      fs.copyFileSync(BIN, path.join(root, 'bin/authctl.js'));
      fs.writeFileSync(path.join(root, 'package.json'), '{"type":"module"}');
      const compiledDir = path.join(root, 'dist/services/token/cli');
      fs.mkdirSync(compiledDir, { recursive: true });
      fs.writeFileSync(path.join(compiledDir, 'authctl.js'), "console.log('compiled:', process.argv.slice(2).join(' '));\n");
      const { stdout } = await run(process.execPath, [path.join(root, 'bin/authctl.js'), 'user', 'list'], {
        env: { PATH: process.env.PATH },
      });
      expect(stdout).to.equal('compiled: user list\n');
      fs.rmSync(path.join(root, 'dist'), { recursive: true });
      const neither = await run(process.execPath, [path.join(root, 'bin/authctl.js'), 'user', 'list']).catch((error: unknown) => error);
      expect((neither as { code?: number }).code).to.equal(2);
      expect((neither as { stderr?: string }).stderr).to.match(/^authctl: no compiled CLI \(dist\/\) and no tsx/);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('authctl against a running stack', function () {
  this.timeout(60_000);
  let stack: Stack;
  let env: Record<string, string>;
  let dataDir: string | undefined;
  before(async () => {
    if (testDatabaseUrl()) {
      stack = await startStack();
      env = { DATABASE_URL: stack.token.database.env.DATABASE_URL! };
    } else {
      // The service holds the embedded database: the CLI goes through its admin endpoint.
      dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'authctl-stack-'));
      stack = await startStack({ tokenEnv: { DATA_DIR: dataDir } });
      env = { DATA_DIR: dataDir };
    }
  });
  after(async () => {
    await stack?.stop();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const atGateway = async (token: string) => (await request(stack.gateway.url, 'GET', '/whoami', { token })).status;

  it('revoke --session reaches the gateway like any other revocation', async () => {
    const { tokens } = await registerAndLogin(stack.token.url);
    expect(await atGateway(tokens.access_token)).to.equal(200);
    const sid = jose.decodeJwt(tokens.access_token).sid as string;
    const result = await authctl(env, 'revoke', '--session', sid);
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.include('revoked: true');
    await eventually(async () => (await atGateway(tokens.access_token)) === 401, 'gateway rejects the revoked session');
  });

  it('sessions list and revoke --user cover every session of a user', async () => {
    const { user, tokens } = await registerAndLogin(stack.token.url);
    const second = await login(stack.token.url, user.username, user.password);
    const listed = JSON.parse((await authctl(env, 'sessions', 'list', '--user', user.email, '--json')).stdout) as unknown[];
    expect(listed).to.have.length(2);
    expect((await authctl(env, 'revoke', '--user', user.username)).code).to.equal(0);
    for (const token of [tokens.access_token, second.access_token]) {
      await eventually(async () => (await atGateway(token)) === 401, 'both sessions rejected');
    }
  });

  it('a disabled user can neither log in, refresh, nor pass the gateway with an earlier token', async () => {
    const { user, tokens } = await registerAndLogin(stack.token.url);
    const result = await authctl(env, 'user', 'disable', '--user', user.username);
    expect(result.code, result.stderr).to.equal(0);
    await eventually(async () => (await atGateway(tokens.access_token)) === 401, 'gateway rejects the disabled user');
    expect((await refresh(stack.token.url, tokens.refresh_token)).status).to.equal(400);
    const again = await request(stack.token.url, 'POST', '/auth/login', { json: { username: user.username, password: user.password } });
    expect(again.status).to.equal(400);
    expect(again.body.error).to.equal('invalid_grant');
    const audit = await authctl(env, 'audit', '--user', user.username, '--json');
    const types = (JSON.parse(audit.stdout) as Array<{ type: string }>).map((e) => e.type);
    expect(types).to.include.members(['user_disabled', 'login_succeeded', 'user_registered']);
  });

  it('user enable lets a disabled user log in again; tokens from before the disable stay revoked', async () => {
    const { user, tokens } = await registerAndLogin(stack.token.url);
    expect((await authctl(env, 'user', 'disable', '--user', user.username)).code).to.equal(0);
    const enabled = await authctl(env, 'user', 'enable', '--user', user.email, '--json');
    expect(enabled.code, enabled.stderr).to.equal(0);
    expect(JSON.parse(enabled.stdout)).to.deep.equal({ user: user.username, disabled: false, was_disabled: true });
    const fresh = await login(stack.token.url, user.username, user.password);
    expect(await atGateway(fresh.access_token)).to.equal(200);
    expect((await refresh(stack.token.url, fresh.refresh_token)).status).to.equal(200);
    await eventually(async () => (await atGateway(tokens.access_token)) === 401, 'the earlier token stays rejected');
    expect((await refresh(stack.token.url, tokens.refresh_token)).status).to.equal(400);
    const again = JSON.parse((await authctl(env, 'user', 'enable', '--user', user.username, '--json')).stdout);
    expect(again.was_disabled, 'enabling an enabled user changes nothing').to.equal(false);
    const audit = await authctl(env, 'audit', '--user', user.username, '--json');
    const types = (JSON.parse(audit.stdout) as Array<{ type: string }>).map((e) => e.type);
    expect(types.filter((type) => type === 'user_enabled')).to.have.length(1);
    expect(types).to.include('user_disabled');
  });

  it('keys rotate: the service signs with the new key and the gateway accepts it', async () => {
    const before = stack.token.service.keys.signer.kid;
    const result = await authctl(env, 'keys', 'rotate', '--json');
    expect(result.code, result.stderr).to.equal(0);
    const { kid, retired } = JSON.parse(result.stdout) as { kid: string; retired: string[] };
    expect(retired).to.deep.equal([before]);
    await eventually(async () => stack.token.service.keys.signer.kid === kid, 'the service reloads its keys');
    const user = newUser();
    await request(stack.token.url, 'POST', '/auth/register', { json: user });
    const tokens = await login(stack.token.url, user.username, user.password);
    expect(jose.decodeProtectedHeader(tokens.access_token).kid).to.equal(kid);
    await eventually(async () => (await atGateway(tokens.access_token)) === 200, 'gateway accepts the new key');
  });

  it('client create, update and list reach the service (admin endpoint, or the shared database)', async () => {
    const created = await authctl(
      env,
      'client',
      'create',
      '--client-id',
      'stack-app',
      '--confidential',
      '--redirect-uris',
      'https://stack-app.example/cb',
      '--token-endpoint-auth-method',
      'client_secret_post',
      '--no-rotate-refresh-tokens',
      '--json',
    );
    expect(created.code, created.stderr).to.equal(0);
    const { client_secret: secret, ...view } = JSON.parse(created.stdout) as Record<string, unknown>;
    expect(view).to.deep.include({ type: 'confidential', token_endpoint_auth_method: 'client_secret_post', rotate_refresh_tokens: false });
    const updated = await authctl(env, 'client', 'update', '--client-id', 'stack-app', '--audiences', 'notes', '--json');
    expect(updated.code, updated.stderr).to.equal(0);
    expect(JSON.parse(updated.stdout)).to.deep.equal({ ...view, audiences: ['notes'] });
    const row = await stack.token.service.knex('clients').where({ client_id: 'stack-app' }).first();
    expect(row.secret_hash, 'the secret kept').to.equal(crypto.createHash('sha256').update(String(secret)).digest('hex'));
    const refused = await authctl(
      env,
      'client',
      'update',
      '--client-id',
      'stack-app',
      '--post-logout-redirect-uris',
      'javascript:alert(1)',
    );
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.match(/^authctl: --post-logout-redirect-uris \(item 1\): javascript:alert\(1\)/);
  });

  it('purge reports what it deleted', async () => {
    await stack.token.service.knex('revocations').insert({ kind: 'token', key: 'old-jti', expires_at: new Date(Date.now() - 1000) });
    const result = await authctl(env, 'purge', '--json');
    expect(result.code, result.stderr).to.equal(0);
    expect(JSON.parse(result.stdout).revocations).to.be.at.least(1);
    expect(await stack.token.service.knex('revocations').where({ key: 'old-jti' }).first()).to.equal(undefined);
  });
});

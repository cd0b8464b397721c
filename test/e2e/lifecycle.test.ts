// The deployables as processes: SIGTERM drains and exits 0, releasing what
// they hold (the embedded database's lock and admin credential).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { freePort } from '../support/fault-proxy.ts';
import { DEV_CLIENTS_FILE } from '../support/token-service.ts';
import { eventually } from '../support/stack.ts';

function launch(entry: string, env: Record<string, string>): { child: ChildProcess; exited: Promise<number | null>; output: () => string } {
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    env: { PATH: process.env.PATH, LOG_LEVEL: 'info', PASSWORD_HASH_COST: '12', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

const answers = async (url: string) => {
  try {
    return (await fetch(url)).ok;
  } catch {
    return false;
  }
};

describe('process life cycle', function () {
  this.timeout(60_000);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lifecycle-'));
  after(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('the token service and the gateway stop on SIGTERM with exit 0, releasing the database', async () => {
    const tokenPort = await freePort();
    const gatewayPort = await freePort();
    const issuer = `http://127.0.0.1:${tokenPort}`;
    const token = launch('services/token/server.ts', {
      TOKEN_PORT: String(tokenPort),
      ISSUER: issuer,
      DATA_DIR: dataDir,
      CLIENTS_FILE: DEV_CLIENTS_FILE,
    });
    const gateway = launch('gateway/server.ts', { GATEWAY_PORT: String(gatewayPort), TOKEN_ISSUER: issuer });
    try {
      await eventually(() => answers(`${issuer}/readyz`), 'token service ready', 30_000);
      await eventually(() => answers(`http://127.0.0.1:${gatewayPort}/readyz`), 'gateway ready', 30_000);
      expect(fs.existsSync(path.join(dataDir, 'admin.json'))).to.equal(true);

      gateway.child.kill('SIGTERM');
      expect(await gateway.exited, gateway.output()).to.equal(0);
      token.child.kill('SIGTERM');
      expect(await token.exited, token.output()).to.equal(0);
      expect(token.output()).to.include('shutting down');
      expect(fs.existsSync(path.join(dataDir, 'admin.json')), 'admin credential removed').to.equal(false);
      expect(fs.existsSync(path.join(dataDir, '.authority.lock')), 'lock released').to.equal(false);
    } finally {
      token.child.kill('SIGKILL');
      gateway.child.kill('SIGKILL');
    }
  });
});

import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { RouteTable, type ReloadResult } from '../../gateway/routes/route-table.ts';
import { compileRoutes, RoutesError, substituteVariables } from '../../gateway/routes/schema.ts';
import { testLogger } from './helpers/fake-authority.ts';
import { rejectionOf } from '../support/rejection.ts';

const good = {
  routes: [
    { id: 'whoami', prefix: '/whoami', upstream: 'http://127.0.0.1:4101', auth: 'required', audience: 'whoami', timeout: '2s' },
    { id: 'public', prefix: '/public', upstream: 'http://127.0.0.1:4101', auth: 'none' },
  ],
};

function problemsOf(document: unknown, env: Record<string, string> = {}): string[] {
  try {
    compileRoutes(document, env, 'test');
  } catch (error) {
    expect(error instanceof RoutesError).to.be.ok;
    return (error as RoutesError).problems;
  }
  expect.fail('expected the routes to be rejected');
}

describe('gateway: routes file', () => {
  it('compiles a valid file with defaults', () => {
    const [whoami, publicRoute] = compileRoutes(good, {}, 'test');
    expect(whoami?.timeoutMs).to.equal(2000);
    expect(whoami?.forwardAuthorization).to.equal(true);
    expect(whoami?.stripPrefix).to.equal(false);
    expect(whoami?.scopes).to.deep.equal([]);
    expect(publicRoute?.upstream.href).to.equal('http://127.0.0.1:4101/');
    expect(publicRoute?.methods).to.equal(undefined);
  });

  it('names the bad entry and field for each problem', () => {
    const problems = problemsOf({
      routes: [
        good.routes[0],
        { id: 'broken', prefix: 'no-slash', upstream: 'ftp://x', auth: 'sometimes' },
        { prefix: '/x', upstream: 'http://a', auth: 'none' },
        { id: 'no-audience', prefix: '/y', upstream: 'http://a', auth: 'required' },
      ],
    });
    expect(
      problems.some((p) => p.startsWith('routes[1] "broken".prefix')),
      problems.join('\n'),
    ).to.be.ok;
    expect(problems.some((p) => p.startsWith('routes[1] "broken".upstream'))).to.be.ok;
    expect(problems.some((p) => p.startsWith('routes[1] "broken".auth'))).to.be.ok;
    expect(problems.some((p) => p.startsWith('routes[2].id'))).to.be.ok;
    expect(
      problems.some((p) => p.startsWith('routes[3] "no-audience".audience')),
      'auth required needs an audience',
    ).to.be.ok;
  });

  it('rejects policies that cannot mean what they say', () => {
    const base = { id: 'r', prefix: '/r', upstream: 'http://a' };
    expect(problemsOf({ routes: [{ ...base, auth: 'none', scopes: ['admin'] }] }).join()).to.match(/scopes need auth "required"/);
    expect(problemsOf({ routes: [{ ...base, auth: 'required', audience: 'a', extra: 1 }] }).join()).to.match(/extra/);
    expect(problemsOf({ routes: [{ ...base, prefix: '/a/../b', auth: 'none' }] }).join()).to.match(/normalized path/);
    expect(problemsOf({ routes: [{ ...base, auth: 'none', timeout: 'soon' }] }).join()).to.match(/duration/);
    expect(
      problemsOf({
        routes: [
          { ...base, auth: 'none' },
          { ...base, id: 'r2', auth: 'none' },
        ],
      }).join(),
    ).to.match(/"r2" matches the same requests as "r"/);
    expect(
      problemsOf({
        routes: [
          { ...base, auth: 'none' },
          { ...base, auth: 'none', prefix: '/s' },
        ],
      }).join(),
    ).to.match(/used twice/);
    // Different methods on one prefix are fine (that is how notes splits read and write).
    compileRoutes(
      {
        routes: [
          { ...base, auth: 'none', methods: ['GET'] },
          { ...base, id: 'w', auth: 'none', methods: ['POST'] },
        ],
      },
      {},
      't',
    );
  });

  it('substitutes ${VAR} and ${VAR:-default} from the environment, and reports unset variables', () => {
    expect(substituteVariables('${A}/${B:-b}/${C:-c}', { A: 'a', C: 'see' }, () => expect.fail())).to.equal('a/b/see');
    const routes = compileRoutes(
      { routes: [{ id: 'x', prefix: '/x', upstream: '${UP:-http://127.0.0.1:1}', auth: 'none' }] },
      { UP: 'http://upstream.test:9' },
      'test',
    );
    expect(routes[0]?.upstream.host).to.equal('upstream.test:9');
    const problems = problemsOf({ routes: [{ id: 'x', prefix: '/x', upstream: '${NOPE}', auth: 'none' }] });
    expect(problems.join()).to.match(/routes\[0\] "x": environment variable NOPE is not set/);
  });

  it('ships a valid default routes file', async () => {
    const table = await RouteTable.load(new URL('../../gateway/routes.json', import.meta.url).pathname, { logger: testLogger(), env: {} });
    const ids = table.routes.map((r) => r.id);
    expect(ids.sort()).to.deep.equal(['admin', 'notes-read', 'notes-write', 'public', 'token-sessions', 'web', 'whoami']);
    expect(table.routes.find((r) => r.id === 'whoami')?.upstream.port).to.equal('4101');
    expect(table.routes.find((r) => r.id === 'admin')?.scopes).to.deep.equal(['admin']);
  });

  describe('file loading and hot reload', () => {
    let dir: string;
    let path: string;
    let table: RouteTable | undefined;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'gateway-routes-'));
      path = join(dir, 'routes.json');
    });
    afterEach(async () => {
      table?.close();
      table = undefined;
      await rm(dir, { recursive: true, force: true });
    });

    it('refuses to start on a bad file, with a message naming the entry', async () => {
      await writeFile(path, JSON.stringify({ routes: [{ id: 'oops', prefix: '/x', upstream: 'http://a', auth: 'required' }] }));
      const error = (await rejectionOf(RouteTable.load(path, { logger: testLogger() }))) as Error;
      expect(error.message).to.match(/routes\[0\] "oops"\.audience/);
      expect(error.message.includes(path)).to.be.ok;
      await writeFile(path, '{ not json');
      expect(await rejectionOf(RouteTable.load(path, { logger: testLogger() })))
        .to.have.property('message')
        .that.matches(/not valid JSON/);
    });

    it('picks up a good edit and keeps the old routes after a bad one', async () => {
      await writeFile(path, JSON.stringify(good));
      table = await RouteTable.load(path, { logger: testLogger(), debounceMs: 10 });
      table.watch();
      expect(table.routes.length).to.equal(2);

      let reloaded = once(table, 'reload') as Promise<[ReloadResult]>;
      await writeFile(path, JSON.stringify({ routes: [good.routes[1]] }));
      let [result] = await reloaded;
      expect(result.ok).to.equal(true);
      expect(table.routes.map((r) => r.id)).to.deep.equal(['public']);

      reloaded = once(table, 'reload') as Promise<[ReloadResult]>;
      await writeFile(path, JSON.stringify({ routes: [{ id: 'bad', prefix: 'x' }] }));
      [result] = await reloaded;
      expect(result.ok).to.equal(false);
      expect(String(!result.ok && result.error.message)).to.match(/routes\[0\] "bad"/);
      expect(
        table.routes.map((r) => r.id),
        'the previous routes stay in force',
      ).to.deep.equal(['public']);
    });
  });
});

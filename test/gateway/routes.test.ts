import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { RouteTable, type ReloadResult } from '../../gateway/routes/route-table.ts';
import { compileRoutes, RoutesError, substituteVariables } from '../../gateway/routes/schema.ts';
import { testLogger } from './helpers/fake-authority.ts';

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
    assert.ok(error instanceof RoutesError);
    return error.problems;
  }
  assert.fail('expected the routes to be rejected');
}

describe('gateway: routes file', () => {
  it('compiles a valid file with defaults', () => {
    const [whoami, publicRoute] = compileRoutes(good, {}, 'test');
    assert.equal(whoami?.timeoutMs, 2000);
    assert.equal(whoami?.forwardAuthorization, true);
    assert.equal(whoami?.stripPrefix, false);
    assert.deepEqual(whoami?.scopes, []);
    assert.equal(publicRoute?.upstream.href, 'http://127.0.0.1:4101/');
    assert.equal(publicRoute?.methods, undefined);
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
    assert.ok(
      problems.some((p) => p.startsWith('routes[1] "broken".prefix')),
      problems.join('\n'),
    );
    assert.ok(problems.some((p) => p.startsWith('routes[1] "broken".upstream')));
    assert.ok(problems.some((p) => p.startsWith('routes[1] "broken".auth')));
    assert.ok(problems.some((p) => p.startsWith('routes[2].id')));
    assert.ok(
      problems.some((p) => p.startsWith('routes[3] "no-audience".audience')),
      'auth required needs an audience',
    );
  });

  it('rejects policies that cannot mean what they say', () => {
    const base = { id: 'r', prefix: '/r', upstream: 'http://a' };
    assert.match(problemsOf({ routes: [{ ...base, auth: 'none', scopes: ['admin'] }] }).join(), /scopes need auth "required"/);
    assert.match(problemsOf({ routes: [{ ...base, auth: 'required', audience: 'a', extra: 1 }] }).join(), /extra/);
    assert.match(problemsOf({ routes: [{ ...base, prefix: '/a/../b', auth: 'none' }] }).join(), /normalized path/);
    assert.match(problemsOf({ routes: [{ ...base, auth: 'none', timeout: 'soon' }] }).join(), /duration/);
    assert.match(
      problemsOf({
        routes: [
          { ...base, auth: 'none' },
          { ...base, id: 'r2', auth: 'none' },
        ],
      }).join(),
      /"r2" matches the same requests as "r"/,
    );
    assert.match(
      problemsOf({
        routes: [
          { ...base, auth: 'none' },
          { ...base, auth: 'none', prefix: '/s' },
        ],
      }).join(),
      /used twice/,
    );
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
    assert.equal(
      substituteVariables('${A}/${B:-b}/${C:-c}', { A: 'a', C: 'see' }, () => assert.fail()),
      'a/b/see',
    );
    const routes = compileRoutes(
      { routes: [{ id: 'x', prefix: '/x', upstream: '${UP:-http://127.0.0.1:1}', auth: 'none' }] },
      { UP: 'http://upstream.test:9' },
      'test',
    );
    assert.equal(routes[0]?.upstream.host, 'upstream.test:9');
    const problems = problemsOf({ routes: [{ id: 'x', prefix: '/x', upstream: '${NOPE}', auth: 'none' }] });
    assert.match(problems.join(), /routes\[0\] "x": environment variable NOPE is not set/);
  });

  it('ships a valid default routes file', async () => {
    const table = await RouteTable.load(new URL('../../gateway/routes.json', import.meta.url).pathname, { logger: testLogger(), env: {} });
    const ids = table.routes.map((r) => r.id);
    assert.deepEqual(ids.sort(), ['admin', 'notes-read', 'notes-write', 'public', 'whoami']);
    assert.equal(table.routes.find((r) => r.id === 'whoami')?.upstream.port, '4101');
    assert.deepEqual(table.routes.find((r) => r.id === 'admin')?.scopes, ['admin']);
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
      await assert.rejects(RouteTable.load(path, { logger: testLogger() }), (error: Error) => {
        assert.match(error.message, /routes\[0\] "oops"\.audience/);
        assert.ok(error.message.includes(path));
        return true;
      });
      await writeFile(path, '{ not json');
      await assert.rejects(RouteTable.load(path, { logger: testLogger() }), /not valid JSON/);
    });

    it('picks up a good edit and keeps the old routes after a bad one', async () => {
      await writeFile(path, JSON.stringify(good));
      table = await RouteTable.load(path, { logger: testLogger(), debounceMs: 10 });
      table.watch();
      assert.equal(table.routes.length, 2);

      let reloaded = once(table, 'reload') as Promise<[ReloadResult]>;
      await writeFile(path, JSON.stringify({ routes: [good.routes[1]] }));
      let [result] = await reloaded;
      assert.equal(result.ok, true);
      assert.deepEqual(
        table.routes.map((r) => r.id),
        ['public'],
      );

      reloaded = once(table, 'reload') as Promise<[ReloadResult]>;
      await writeFile(path, JSON.stringify({ routes: [{ id: 'bad', prefix: 'x' }] }));
      [result] = await reloaded;
      assert.equal(result.ok, false);
      assert.match(String(!result.ok && result.error.message), /routes\[0\] "bad"/);
      assert.deepEqual(
        table.routes.map((r) => r.id),
        ['public'],
        'the previous routes stay in force',
      );
    });
  });
});

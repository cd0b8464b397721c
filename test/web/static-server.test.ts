// The web app's static server over HTTP: only the files in public/, with their
// content types and security headers, never anything outside it.
import { expect } from 'chai';
import net from 'node:net';
import { CONTENT_SECURITY_POLICY, resolvePublicFile, startWeb, PUBLIC_DIR, type RunningWeb } from '../../services/web/app.ts';

/** A request sent byte for byte (fetch would normalise `..` away before sending). */
function rawGet(port: number, target: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString()));
    socket.on('error', reject);
  });
}

describe('web: the static server', () => {
  let web: RunningWeb;
  before(async () => {
    web = await startWeb({ port: 0 });
  });
  after(() => web.close());

  it('serves index.html at / (never cached), app.js and style.css with their types and a script-free CSP', async () => {
    const expected: Array<[string, RegExp, string]> = [
      ['/', /^text\/html; charset=utf-8$/, 'no-store'],
      ['/index.html', /^text\/html; charset=utf-8$/, 'no-store'],
      ['/app.js', /^text\/javascript; charset=utf-8$/, 'no-cache'],
      ['/style.css', /^text\/css; charset=utf-8$/, 'no-cache'],
      ['/favicon.svg', /^image\/svg\+xml$/, 'no-cache'],
    ];
    for (const [path, type, cache] of expected) {
      const reply = await fetch(web.url + path);
      expect(reply.status, path).to.equal(200);
      expect(reply.headers.get('content-type'), path).to.match(type);
      expect(reply.headers.get('cache-control'), path).to.equal(cache);
      expect(reply.headers.get('content-security-policy'), path).to.equal(CONTENT_SECURITY_POLICY);
      expect(reply.headers.get('x-content-type-options'), path).to.equal('nosniff');
      expect(reply.headers.get('x-frame-options'), path).to.equal('DENY');
    }
    expect(CONTENT_SECURITY_POLICY)
      .to.include("script-src 'self'")
      .and.not.to.match(/unsafe-inline|unsafe-eval/);
    const page = await (await fetch(web.url)).text();
    expect(page, 'no inline script').not.to.match(/<script(?![^>]*\bsrc=)[^>]*>/);
  });

  it('never serves anything outside public/ (dot segments, encoded slashes, backslashes, dotfiles)', async () => {
    const outside = [
      '/../app.ts',
      '/../../package.json',
      '/%2e%2e/app.ts',
      '/%2e%2e%2fapp.ts',
      '/..%2f..%2fpackage.json',
      '/..%5capp.ts',
      '/public/../../app.ts',
      '//etc/passwd',
      '/%2fetc%2fpasswd',
      '/.env',
      '/%00index.html',
      '/index.html%00.js',
      '/app.ts',
      '/nope.js',
      '/%E0%A4%A',
    ];
    for (const target of outside) {
      const reply = await rawGet(web.port, target);
      expect(reply.split('\r\n')[0], target).to.equal('HTTP/1.1 404 Not Found');
      expect(reply, target).not.to.include('startWeb');
    }
    expect(resolvePublicFile(PUBLIC_DIR, '/../app.ts')).to.equal(undefined);
    expect(resolvePublicFile(PUBLIC_DIR, '/app.js')).to.equal(`${PUBLIC_DIR}app.js`);
  });

  it('answers HEAD without a body and other methods with 405', async () => {
    const head = await fetch(`${web.url}/app.js`, { method: 'HEAD' });
    expect(head.status).to.equal(200);
    expect(await head.text()).to.equal('');
    const post = await fetch(`${web.url}/`, { method: 'POST', body: 'x' });
    expect(post.status).to.equal(405);
    expect(post.headers.get('allow')).to.equal('GET, HEAD');
  });
});

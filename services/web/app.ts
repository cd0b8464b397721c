// The demo browser app's static server: index.html, app.js and style.css from
// public/, nothing else. The app itself holds no secret and never sees a token:
// it is served behind the gateway at `/`, calls the APIs on the same origin with
// the gateway's HttpOnly cookie, and the gateway answers `/.auth/*` itself.
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../common/logger.ts';

export interface WebOptions {
  port?: number;
  host?: string;
  logger?: Logger;
  /** The directory served (tests); public/ next to this file by default. */
  publicDir?: string;
}

export interface RunningWeb {
  url: string;
  port: number;
  server: http.Server;
  close(): Promise<void>;
}

export const PUBLIC_DIR = fileURLToPath(new URL('./public/', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

// Scripts, styles and fetches from this origin only: no inline code, so an injected
// <script> or onerror= would not run even if some text were ever parsed as HTML.
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** One file name directly in public/, without a leading dot; anything else (a `/`, `..`, `\`, `%2f` once decoded) is not ours. */
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*\.[a-z0-9]+$/;

/** The file a request path names in `publicDir`, or undefined: `/` is index.html. */
export function resolvePublicFile(publicDir: string, requestPath: string): string | undefined {
  let name: string;
  try {
    name = decodeURIComponent(requestPath === '/' ? '/index.html' : requestPath).slice(1);
  } catch {
    return undefined;
  }
  if (!requestPath.startsWith('/') || !FILE_NAME.test(name) || !(path.extname(name) in CONTENT_TYPES)) return undefined;
  const file = path.resolve(publicDir, name);
  // Belt and braces: the pattern already rules out separators and dot segments.
  return path.dirname(file) === path.resolve(publicDir) ? file : undefined;
}

function headersFor(file: string): Record<string, string> {
  return {
    'content-type': CONTENT_TYPES[path.extname(file)] as string,
    // The page is the entry point: always fetched again, so a signed-out browser's back
    // button never shows a stale copy. Its scripts and styles are revalidated.
    'cache-control': path.basename(file) === 'index.html' ? 'no-store' : 'no-cache',
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'same-origin',
  };
}

function sendText(res: http.ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...extra });
  res.end(text);
}

export function createWebHandler(publicDir = PUBLIC_DIR): http.RequestListener {
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendText(res, 405, 'Method not allowed\n', { allow: 'GET, HEAD' });
      return;
    }
    const requestPath = (req.url ?? '/').split('?')[0] as string;
    const file = resolvePublicFile(publicDir, requestPath);
    if (!file) {
      sendText(res, 404, 'Not found\n');
      return;
    }
    readFile(file).then(
      (body) => {
        res.writeHead(200, { ...headersFor(file), 'content-length': body.length });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      () => sendText(res, 404, 'Not found\n'),
    );
  };
}

export async function startWeb(options: WebOptions = {}): Promise<RunningWeb> {
  const server = http.createServer(createWebHandler(options.publicDir));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  options.logger?.info({ port }, 'web app listening');
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

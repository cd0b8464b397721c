// Demo upstream: a tiny notes API, one in-memory notebook per user. The user is
// whoever the gateway says: the `sub` of a valid X-Auth-Assertion when the app
// is given the gateway's JWKS (`assertion`), else X-Auth-Subject (safe only
// while nothing but the gateway can reach the app). Scopes are the gateway's
// business (routes.json: GET needs notes:read, POST/DELETE notes:write).
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import Koa, { type Context, type Next } from 'koa';
import bodyParser from 'koa-bodyparser';
import { z } from 'zod';
import { assertionVerifier, type AssertionCheck } from '../../common/gateway-assertion.ts';
import type { Logger } from '../../common/logger.ts';
import { IDENTITY_HEADERS } from '../../contract/identity-headers.ts';

export interface Note {
  id: string;
  text: string;
  created_at: string;
}

export interface NotesOptions {
  port?: number;
  host?: string;
  logger?: Logger;
  /** Verify the gateway's X-Auth-Assertion (audience default: the routes `notes-read` and `notes-write`). */
  assertion?: Omit<AssertionCheck, 'audience'> & Partial<Pick<AssertionCheck, 'audience'>>;
}

/** The routes of gateway/routes.json that lead here. */
export const NOTES_ROUTES = ['notes-read', 'notes-write'];

export interface RunningNotes {
  url: string;
  port: number;
  server: Server;
  /** Notes by subject, for tests. */
  notebooks: Map<string, Note[]>;
  close(): Promise<void>;
}

const newNoteSchema = z.object({ text: z.string().min(1).max(10_000) });

export function createNotesApp(notebooks = new Map<string, Note[]>(), assertion?: NotesOptions['assertion']): Koa {
  const app = new Koa();
  app.silent = true;
  const router = new Router({ prefix: '/notes' });

  // Identity comes only from the gateway; without it there is no user.
  const verify = assertion && assertionVerifier({ audience: NOTES_ROUTES, ...assertion });
  const subjectOf = async (ctx: Context): Promise<string | undefined> => {
    if (!verify) return ctx.get(IDENTITY_HEADERS.subject) || undefined;
    return (await verify(ctx.get(IDENTITY_HEADERS.assertion) || undefined))?.sub;
  };
  const requireSubject = async (ctx: Context, next: Next) => {
    const subject = await subjectOf(ctx);
    if (!subject) {
      ctx.status = 401;
      ctx.body = {
        error: 'unauthenticated',
        error_description: verify ? 'no valid X-Auth-Assertion from the gateway' : 'no X-Auth-Subject from the gateway',
      };
      return;
    }
    ctx.state.subject = subject;
    await next();
  };
  const notebookOf = (ctx: Context): Note[] => {
    const subject = ctx.state.subject as string;
    let notes = notebooks.get(subject);
    if (!notes) notebooks.set(subject, (notes = []));
    return notes;
  };

  router.use(requireSubject);
  router.get('/', (ctx) => {
    ctx.body = { notes: notebookOf(ctx) };
  });
  router.post('/', (ctx) => {
    const parsed = newNoteSchema.safeParse(ctx.request.body);
    if (!parsed.success) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: 'expected {"text": "..."}' };
      return;
    }
    const note: Note = { id: randomUUID(), text: parsed.data.text, created_at: new Date().toISOString() };
    notebookOf(ctx).push(note);
    ctx.status = 201;
    ctx.body = note;
  });
  router.delete('/:id', (ctx) => {
    const notes = notebookOf(ctx);
    const index = notes.findIndex((note) => note.id === ctx.params.id);
    if (index === -1) {
      ctx.status = 404;
      ctx.body = { error: 'not_found' };
      return;
    }
    notes.splice(index, 1);
    ctx.status = 204;
  });

  app.use(bodyParser({ enableTypes: ['json'], jsonLimit: '64kb' }));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

export async function startNotes(options: NotesOptions = {}): Promise<RunningNotes> {
  const notebooks = new Map<string, Note[]>();
  const server = createNotesApp(notebooks, options.assertion).listen(options.port ?? 0, options.host ?? '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.once('listening', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  options.logger?.info({ port }, 'notes listening');
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    notebooks,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// GET /auth/sessions?limit=&cursor=: a page of the caller's live sessions.
import { z } from 'zod';
import { isUuid } from '../../../db/identifiers.ts';
import type { SessionCursor } from '../models/sessions.ts';
import { decimal } from './parameters.ts';

export const SESSIONS_PAGE_DEFAULT = 50;
export const SESSIONS_PAGE_MAX = 100;

const BAD_LIMIT = `limit must be an integer from 1 to ${SESSIONS_PAGE_MAX}`;
const BAD_CURSOR = 'cursor is not one this endpoint returned';
// Repeated parameters keep the common message (errors.ts).
const unlessRepeated = (message: string) => (issue: { input?: unknown }) => (Array.isArray(issue.input) ? undefined : message);

/** The cursor is opaque to clients: base64url of [created_us, id] of the last session on the page. */
export const encodeSessionCursor = (cursor: SessionCursor): string =>
  Buffer.from(JSON.stringify([cursor.createdUs, cursor.id])).toString('base64url');

function decodeSessionCursor(text: string): SessionCursor | undefined {
  let decoded: unknown;
  try {
    decoded = text.length <= 200 ? JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) : undefined;
  } catch {
    return undefined;
  }
  if (!Array.isArray(decoded) || decoded.length !== 2 || !Number.isSafeInteger(decoded[0])) return undefined;
  const [createdUs, id] = decoded as [number, unknown];
  return typeof id === 'string' && isUuid(id) ? { createdUs, id } : undefined;
}

export const listSessionsQuery = z.object({
  limit: decimal(
    3,
    z
      .number({ error: unlessRepeated(BAD_LIMIT) })
      .int()
      .min(1, BAD_LIMIT)
      .max(SESSIONS_PAGE_MAX, BAD_LIMIT)
      .default(SESSIONS_PAGE_DEFAULT),
  ),
  cursor: z
    .string({ error: unlessRepeated(BAD_CURSOR) })
    .transform((text, ctx) => {
      const cursor = decodeSessionCursor(text);
      if (cursor) return cursor;
      ctx.issues.push({ code: 'custom', message: BAD_CURSOR, input: text });
      return z.NEVER;
    })
    .optional()
    .meta({ description: 'next_cursor of the previous page (opaque)' }),
});

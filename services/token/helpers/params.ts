// Reading a request's body: its media type, and that it is an object (a JSON
// object or a form). Its parameters are then read against the endpoint's
// schema (services/token/schemas/).
import type { Context } from 'koa';
import { UnsupportedMediaType, ValidationFailed } from '../errors.ts';

export type Params = Record<string, unknown>;

export function bodyParams(ctx: Context): Params {
  const body = (ctx.request as { body?: unknown }).body;
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw new ValidationFailed('body', 'the body must be a JSON object or a form');
  }
  return body as Params;
}

/** Rejects a body whose media type is not one of `types` (415). */
export function requireMediaType(ctx: Context, types: Array<'json' | 'urlencoded'>): void {
  const hasBody = Number(ctx.get('content-length') || 0) > 0 || ctx.get('transfer-encoding') !== '';
  if (!hasBody) return;
  if (!ctx.is(types)) {
    throw new UnsupportedMediaType(
      types.map((t) => (t === 'json' ? 'application/json' : 'application/x-www-form-urlencoded')).join(' or '),
    );
  }
}

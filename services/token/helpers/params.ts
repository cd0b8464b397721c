// Reading request parameters strictly: a parameter is a single string of
// bounded length; repeated parameters (RFC 6749 §3.2) and other JSON types are
// rejected with a message naming the field.
import type { Context } from 'koa';
import { UnsupportedMediaType, ValidationFailed } from '../errors.ts';

export const MAX_PARAMETER_LENGTH = 4096;

export interface StringOptions {
  maxLength?: number;
}

export type Params = Record<string, unknown>;

export function bodyParams(ctx: Context): Params {
  const body = (ctx.request as { body?: unknown }).body;
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw new ValidationFailed('body', 'the body must be a JSON object or a form');
  }
  return body as Params;
}

export function optionalString(params: Params, field: string, options: StringOptions = {}): string | undefined {
  const value = params[field];
  if (value === undefined || value === null || value === '') return undefined;
  if (Array.isArray(value)) throw new ValidationFailed(field, `${field} must not be repeated`);
  if (typeof value !== 'string') throw new ValidationFailed(field, `${field} must be a string`);
  const maxLength = options.maxLength ?? MAX_PARAMETER_LENGTH;
  if (value.length > maxLength) throw new ValidationFailed(field, `${field} must be at most ${maxLength} characters`);
  return value;
}

export function requiredString(params: Params, field: string, options: StringOptions = {}): string {
  const value = optionalString(params, field, options);
  if (value === undefined) throw new ValidationFailed(field, `${field} is required`);
  return value;
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

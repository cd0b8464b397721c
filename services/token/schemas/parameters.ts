// What the endpoints' parameter schemas are made of, and how a request's
// parameters are read against one. These schemas are the one description of
// what each endpoint accepts: the actions parse with them, and the OpenAPI
// document (openapi.ts) is generated from them. Messages: errors.ts.
import { z } from 'zod';
import { invalidParameter, parameterMessage } from '../errors.ts';

export const MAX_PARAMETER_LENGTH = 4096;

/** One parameter: a single string of bounded length (RFC 6749 §3.2: never repeated). */
export const parameter = (maxLength = MAX_PARAMETER_LENGTH) => z.string().max(maxLength);

/**
 * A number sent as text (a query parameter, a header): at most `digits`
 * decimal digits, then checked by `number`. Anything else reaches `number`
 * unchanged, which rejects it, so "1e3", " 5" or "0x10" never count as numbers.
 */
export const decimal = <T extends z.ZodType>(digits: number, number: T) => {
  const pattern = new RegExp(`^\\d{1,${digits}}$`);
  return z.preprocess((value) => (typeof value === 'string' && pattern.test(value) ? Number(value) : value), number);
};

/** The fields of a parameter schema, in order, also behind a transform (the password grant's). */
export function fieldsOf(schema: z.ZodType): z.ZodRawShape {
  if (schema instanceof z.ZodObject) return schema.shape;
  if (schema instanceof z.ZodPipe) return fieldsOf(schema.in as z.ZodType);
  return {};
}

/**
 * Reads `params` (a body or a query) against `schema`. Parameters sent
 * without a value count as omitted (RFC 6749 §3.1). When several are wrong,
 * the error names the first in the schema's order.
 */
export function parseParams<S extends z.ZodType>(schema: S, params: Record<string, unknown>): z.output<S> {
  const present = Object.fromEntries(Object.entries(params).filter(([, value]) => value !== '' && value !== null));
  const result = schema.safeParse(present, { error: parameterMessage });
  if (result.success) return result.data;
  const order = Object.keys(fieldsOf(schema));
  const rank = (issue: z.core.$ZodIssue): number => {
    const index = order.indexOf(String(issue.path[0]));
    return index < 0 ? order.length : index;
  };
  const [first, ...rest] = result.error.issues as [z.core.$ZodIssue, ...z.core.$ZodIssue[]];
  throw invalidParameter(rest.reduce((best, issue) => (rank(issue) < rank(best) ? issue : best), first));
}

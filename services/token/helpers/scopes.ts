import { InvalidScope } from '../errors.ts';

// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/**
 * The scope to grant: the requested one when it is within `allowed`, else
 * everything allowed when nothing was requested.
 */
export function resolveScope(requested: string | undefined, allowed: readonly string[]): string {
  if (requested === undefined) return allowed.join(' ');
  const tokens = requested.split(' ').filter(Boolean);
  if (tokens.length === 0) return allowed.join(' ');
  for (const token of tokens) {
    if (!SCOPE_TOKEN.test(token)) throw new InvalidScope('scope contains invalid characters');
    if (!allowed.includes(token)) throw new InvalidScope(`scope ${token} is not allowed`);
  }
  return [...new Set(tokens)].join(' ');
}

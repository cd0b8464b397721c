// Removing named cookies from a Cookie header (RFC 6265 §5.4: `name=value`
// pairs joined by "; "), for what an upstream must not see.

/** The header without the cookies called one of `names`; undefined when none is left. */
export function withoutCookies(cookieHeader: string | string[] | undefined, names: ReadonlySet<string>): string | undefined {
  if (cookieHeader === undefined) return undefined;
  const joined = Array.isArray(cookieHeader) ? cookieHeader.join('; ') : cookieHeader;
  let mentioned = false;
  for (const name of names) {
    if (joined.includes(name)) {
      mentioned = true;
      break;
    }
  }
  if (!mentioned) return joined;
  const kept = joined
    .split(';')
    .map((pair) => pair.trim())
    .filter((pair) => pair !== '' && !names.has(pair.slice(0, Math.max(0, pair.indexOf('='))).trim()));
  return kept.length > 0 ? kept.join('; ') : undefined;
}

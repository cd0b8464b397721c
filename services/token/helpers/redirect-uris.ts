// Redirect URIs (RFC 6749 §3.1.2, RFC 9700 §4.1.3, RFC 8252 §7): registered
// exactly, compared as strings. The one exception is a native app's loopback
// redirect, which may use any port (RFC 8252 §7.3).

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]']);
const LOCAL_HOSTS = new Set(['localhost', ...LOOPBACK_HOSTS]);

/**
 * Why `uri` cannot be registered as a redirect (or post-logout redirect) URI,
 * or undefined. Absolute, no fragment, no credentials; `https`, `http` only
 * on a loopback or localhost host, or a native app's private-use scheme
 * (reverse domain name, RFC 8252 §7.1). Never `javascript:`, `data:` or `file:`.
 */
export function redirectUriProblem(uri: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(uri);
  } catch {
    return `${uri} is not an absolute URI`;
  }
  if (uri.length > 2000) return 'a redirect URI is at most 2000 characters';
  if (parsed.hash !== '' || uri.includes('#')) return `${uri} must not have a fragment`;
  if (parsed.username !== '' || parsed.password !== '') return `${uri} must not carry credentials`;
  if (parsed.protocol === 'https:') return undefined;
  if (parsed.protocol === 'http:') return LOCAL_HOSTS.has(parsed.hostname) ? undefined : `${uri}: plain http only for loopback hosts`;
  if (/^[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+:$/.test(parsed.protocol)) return undefined;
  return `${uri}: https, http on a loopback host, or a private-use scheme (com.example.app:/callback)`;
}

// A loopback redirect URI as written (an IP literal, not `localhost`: RFC 8252 §8.3), split around its port.
const LOOPBACK = /^http:\/\/(127\.0\.0\.1|\[::1\])(?::(\d{1,5}))?([/?][^#]*)?$/;

/** The URI without its port when it is a loopback one, else undefined. Strings only: nothing is normalised. */
function loopbackWithoutPort(uri: string): string | undefined {
  const match = LOOPBACK.exec(uri);
  // A port past 65535 is no URL at all: redirecting to it would throw.
  if (!match || Number(match[2] ?? 0) > 65535) return undefined;
  return `http://${match[1] as string}${match[3] ?? ''}`;
}

/**
 * Is `requested` one of `registered`? Exact string comparison; for loopback
 * URIs the port is ignored, everything else (path, query) must still match
 * character for character.
 */
export function isRegisteredRedirect(registered: readonly string[], requested: string): boolean {
  if (registered.includes(requested)) return true;
  const wanted = loopbackWithoutPort(requested);
  return wanted !== undefined && registered.some((candidate) => loopbackWithoutPort(candidate) === wanted);
}

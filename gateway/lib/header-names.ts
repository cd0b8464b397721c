// Header names as CGI-style frameworks (CGI, WSGI, PHP, Rack) see them: they
// map `X_Auth_Subject`, `X-Auth_Subject` and `X-Auth-Subject` onto one
// variable, so the gateway compares names lower-cased with `_` read as `-`.
/** An RFC 9110 field name (a token). */
export const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function normaliseHeaderName(name: string): string {
  const lower = name.toLowerCase();
  return lower.includes('_') ? lower.replaceAll('_', '-') : lower;
}

// The token service's browser cookies: the sign-in session (single sign-on),
// the login form's CSRF cookie and the device cookie. They are the user's
// sign-in itself, for the token service alone: a gateway in front of several
// apps on one site (cookies ignore ports, and compose puts the token service
// behind the gateway's own origin) never forwards them to an upstream, except
// to a route that is the token service (`forward_sign_in_cookies`).
export const TOKEN_SERVICE_COOKIES = ['signin', 'csrf', 'device'] as const;

/** A cookie's names on the wire: plain (plain-HTTP loopback development) or with the __Host- prefix. */
export const cookieNames = (names: readonly string[]): string[] => names.flatMap((name) => [name, `__Host-${name}`]);

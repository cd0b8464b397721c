// Every error a client can cause, in one place. OAuth endpoints render them in
// RFC 6749 §5.2 form ({error, error_description}); the others as {error, message}.

export class HttpError extends Error {
  readonly expose = true;
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

import type { z } from 'zod';

// RFC 6749 §5.2 and RFC 7009 §2.2.1 error codes.
export class InvalidRequest extends HttpError {
  constructor(message = 'the request is malformed') {
    super(400, 'invalid_request', message);
  }
}
export class InvalidClient extends HttpError {
  constructor(message = 'client authentication failed', usedBasicAuth = false) {
    super(401, 'invalid_client', message, usedBasicAuth ? { 'WWW-Authenticate': 'Basic realm="token"' } : {});
  }
}
export class InvalidGrant extends HttpError {
  constructor(message = 'the grant is invalid, expired or revoked') {
    super(400, 'invalid_grant', message);
  }
}
export class UnauthorizedClient extends HttpError {
  constructor(message = 'this client may not use this grant type') {
    super(400, 'unauthorized_client', message);
  }
}
export class UnsupportedGrantType extends HttpError {
  constructor(message = 'unsupported grant_type') {
    super(400, 'unsupported_grant_type', message);
  }
}
export class InvalidScope extends HttpError {
  constructor(message = 'the requested scope is invalid or exceeds what the client may ask for') {
    super(400, 'invalid_scope', message);
  }
}
/** RFC 8707 §2: a `resource` the client may not ask for. */
export class InvalidTarget extends HttpError {
  constructor(message = 'the requested resource is not one of the client’s audiences') {
    super(400, 'invalid_target', message);
  }
}

/**
 * An authorization request refused after its client and redirect URI were
 * found good: sent back to the client (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6)
 * rather than shown. Codes: invalid_request, unauthorized_client,
 * access_denied, unsupported_response_type, invalid_scope, invalid_target,
 * login_required, consent_required, request_not_supported, request_uri_not_supported.
 */
export class AuthorizationError extends HttpError {
  constructor(code: string, message: string) {
    super(400, code, message);
  }
}

export class UnsupportedTokenType extends HttpError {
  constructor(message = 'unsupported token_type_hint') {
    super(400, 'unsupported_token_type', message);
  }
}

// RFC 6750 errors for Bearer-protected endpoints.
export class InsufficientScope extends HttpError {
  constructor(scope: string) {
    super(403, 'insufficient_scope', `the access token lacks the scope ${scope}`, {
      'WWW-Authenticate': `Bearer error="insufficient_scope", scope="${scope}"`,
    });
  }
}
export class InvalidToken extends HttpError {
  constructor(message = 'the access token is missing, invalid, expired or revoked') {
    super(401, 'invalid_token', message, {
      'WWW-Authenticate': `Bearer error="invalid_token", error_description="${message}"`,
    });
  }
}

// Everything else.
export class ValidationFailed extends HttpError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(400, 'invalid_request', message);
  }
}

/**
 * The message for a parameter that fails its schema (services/token/schemas/),
 * naming the parameter. A schema's own message wins over this one.
 */
export function parameterMessage(issue: z.core.$ZodRawIssue): string {
  const name = String(issue.path?.[0] ?? 'body');
  if (issue.path?.length === 0) return 'the body must be a JSON object or a form';
  // A form repeats a parameter as an array (RFC 6749 §3.2: never more than once).
  if (Array.isArray(issue.input)) return `${name} must not be repeated`;
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined ? `${name} is required` : `${name} must be a ${issue.expected}`;
    case 'invalid_value':
      return `${name} must be one of ${issue.values.map(String).join(', ')}`;
    case 'too_big':
      return `${name} must be at most ${String(issue.maximum)}${issue.origin === 'string' ? ' characters' : ''}`;
    default:
      return `${name} is invalid`;
  }
}

/** A parameter's schema issue as the error the client sees: 400 invalid_request, naming the parameter. */
export function invalidParameter(issue: z.core.$ZodIssue): ValidationFailed {
  return new ValidationFailed(String(issue.path[0] ?? 'body'), issue.message);
}

export class Conflict extends HttpError {
  constructor(message: string) {
    super(409, 'conflict', message);
  }
}
export class NotFound extends HttpError {
  constructor(message = 'not found') {
    super(404, 'not_found', message);
  }
}
export class MethodNotAllowed extends HttpError {
  constructor(allowed: string) {
    super(405, 'method_not_allowed', 'method not allowed', { Allow: allowed });
  }
}
export class UnsupportedMediaType extends HttpError {
  constructor(expected: string) {
    super(415, 'unsupported_media_type', `expected a body of type ${expected}`);
  }
}
export class PayloadTooLarge extends HttpError {
  constructor() {
    super(413, 'payload_too_large', 'the request body is too large');
  }
}
export class TooManyRequests extends HttpError {
  constructor(retryAfterSeconds: number, message = 'too many failed attempts; try again later') {
    super(429, 'too_many_requests', message, { 'Retry-After': String(retryAfterSeconds) });
  }
}
export class ServiceUnavailable extends HttpError {
  constructor(message = 'the service is temporarily unavailable', retryAfterSeconds = 5) {
    super(503, 'temporarily_unavailable', message, { 'Retry-After': String(retryAfterSeconds) });
  }
}

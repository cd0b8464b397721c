// The endpoints' parameter schemas (services/token/schemas/) and how their
// issues become errors (errors.ts): the messages clients see, without a server.
import { expect } from 'chai';
import { ValidationFailed } from '../../services/token/errors.ts';
import { clientAuthParams } from '../../services/token/schemas/client-auth.ts';
import { loginParams } from '../../services/token/schemas/login.ts';
import { logoutParams } from '../../services/token/schemas/logout.ts';
import { parseParams } from '../../services/token/schemas/parameters.ts';
import { registerParams } from '../../services/token/schemas/register.ts';
import { revocationPageQuery, revocationStreamParams } from '../../services/token/schemas/revocations.ts';
import { encodeSessionCursor, listSessionsQuery } from '../../services/token/schemas/sessions.ts';
import { grantParams, tokenParams } from '../../services/token/schemas/token.ts';

/** The error `parseParams` throws, as {field, status, code, message}. */
function rejection(run: () => unknown): { field: string; status: number; code: string; message: string } {
  try {
    run();
  } catch (error) {
    expect(error).to.be.instanceOf(ValidationFailed);
    const { field, status, code, message } = error as ValidationFailed;
    return { field, status, code, message };
  }
  throw new Error('expected a rejection');
}

describe('token service: parameter schemas', () => {
  it('names the parameter: required, repeated, not a string, too long', () => {
    const invalid = (field: string, message: string) => ({ field, status: 400, code: 'invalid_request', message });
    expect(rejection(() => parseParams(tokenParams, {}))).to.deep.equal(invalid('grant_type', 'grant_type is required'));
    expect(rejection(() => parseParams(tokenParams, { grant_type: ['password', 'refresh_token'] }))).to.deep.equal(
      invalid('grant_type', 'grant_type must not be repeated'),
    );
    expect(rejection(() => parseParams(tokenParams, { grant_type: 42 }))).to.deep.equal(
      invalid('grant_type', 'grant_type must be a string'),
    );
    expect(rejection(() => parseParams(tokenParams, { grant_type: { a: 'password' } }))).to.deep.equal(
      invalid('grant_type', 'grant_type must be a string'),
    );
    expect(rejection(() => parseParams(grantParams.refresh_token, { refresh_token: 'x'.repeat(513) }))).to.deep.equal(
      invalid('refresh_token', 'refresh_token must be at most 512 characters'),
    );
    expect(rejection(() => parseParams(clientAuthParams, { client_secret: 'x'.repeat(1025) })).message).to.equal(
      'client_secret must be at most 1024 characters',
    );
  });

  it('treats a parameter sent without a value as omitted (RFC 6749 §3.1)', () => {
    expect(parseParams(tokenParams, { grant_type: 'password', scope: '' })).to.deep.equal({ grant_type: 'password' });
    expect(parseParams(tokenParams, { grant_type: 'password', scope: null })).to.deep.equal({ grant_type: 'password' });
    expect(rejection(() => parseParams(tokenParams, { grant_type: '' })).message).to.equal('grant_type is required');
    expect(parseParams(logoutParams, { scope: '' })).to.deep.equal({ scope: 'local' });
  });

  it('names the first wrong parameter in the schema order, whatever the body order', () => {
    expect(rejection(() => parseParams(registerParams, { password: 7, email: [1, 2] })).message).to.equal('username is required');
    expect(rejection(() => parseParams(registerParams, { username: 'alice', password: 7, email: [1, 2] })).message).to.equal(
      'email must not be repeated',
    );
  });

  it('ignores parameters it does not know, prototype keys included', () => {
    const body = JSON.parse('{"grant_type": "password", "__proto__": {"admin": true}, "constructor": 1}') as Record<string, unknown>;
    const parsed = parseParams(tokenParams, body);
    expect(parsed).to.deep.equal({ grant_type: 'password' });
    expect(({} as Record<string, unknown>).admin).to.equal(undefined);
  });

  it('reads the password grant and the login by username, else by e-mail', () => {
    expect(parseParams(grantParams.password, { username: 'alice', email: 'a@example.com', password: 'p' })).to.deep.equal({
      login: 'alice',
      password: 'p',
    });
    expect(parseParams(grantParams.password, { email: 'a@example.com', password: 'p' })).to.deep.equal({
      login: 'a@example.com',
      password: 'p',
    });
    expect(rejection(() => parseParams(grantParams.password, { password: 'p' }))).to.include({
      field: 'email',
      message: 'email is required',
    });
    expect(rejection(() => parseParams(loginParams, {}))).to.include({ field: 'username', message: 'username or email is required' });
    expect(parseParams(loginParams, { email: 'a@example.com', password: 'p', scope: 'openid' })).to.deep.equal({
      login: 'a@example.com',
      password: 'p',
      scope: 'openid',
    });
  });

  it('logout: one of the three scopes', () => {
    expect(parseParams(logoutParams, {})).to.deep.equal({ scope: 'local' });
    expect(parseParams(logoutParams, { scope: 'others' })).to.deep.equal({ scope: 'others' });
    for (const scope of ['everything', 'toString', '__proto__']) {
      expect(rejection(() => parseParams(logoutParams, { scope })).message, scope).to.equal('scope must be one of local, global, others');
    }
    expect(rejection(() => parseParams(logoutParams, { scope: ['local', 'global'] })).message).to.equal('scope must not be repeated');
  });

  it('sessions: limit from 1 to 100 (default 50) and an opaque cursor', () => {
    expect(parseParams(listSessionsQuery, {})).to.deep.equal({ limit: 50 });
    const cursor = { createdUs: 1_700_000_000_000_000, id: '0b5f4d2e-8f0a-4c7e-9d3b-2a1c5e6f7a8b' };
    expect(parseParams(listSessionsQuery, { limit: '100', cursor: encodeSessionCursor(cursor) })).to.deep.equal({ limit: 100, cursor });
    for (const limit of ['0', '101', '1e2', ' 5', '-1', '1.5', 'abc', '0x10']) {
      expect(
        rejection(() => parseParams(listSessionsQuery, { limit })),
        limit,
      ).to.include({
        field: 'limit',
        message: 'limit must be an integer from 1 to 100',
      });
    }
    expect(rejection(() => parseParams(listSessionsQuery, { limit: ['1', '2'] })).message).to.equal('limit must not be repeated');
    const forged = [
      Buffer.from('[1, "not-a-uuid"]').toString('base64url'),
      Buffer.from('{}').toString('base64url'),
      '%%%',
      'x'.repeat(300),
    ];
    for (const text of forged) {
      expect(
        rejection(() => parseParams(listSessionsQuery, { cursor: text })),
        text,
      ).to.include({
        field: 'cursor',
        message: 'cursor is not one this endpoint returned',
      });
    }
  });

  it('revocations: non-negative cursors, limit from 1 to 5000', () => {
    expect(parseParams(revocationPageQuery, {})).to.deep.equal({ after: 0, limit: 5000 });
    expect(parseParams(revocationPageQuery, { after: '999999999999999', limit: '1' })).to.deep.equal({ after: 999999999999999, limit: 1 });
    for (const after of ['-1', 'abc', '1e3', '1000000000000000', ['1', '2']]) {
      expect(rejection(() => parseParams(revocationPageQuery, { after })).message, String(after)).to.equal(
        'after must be a non-negative integer',
      );
    }
    expect(rejection(() => parseParams(revocationPageQuery, { limit: 'x' })).message).to.equal('limit must be a non-negative integer');
    for (const limit of ['0', '5001']) {
      expect(rejection(() => parseParams(revocationPageQuery, { limit })).message, limit).to.equal('limit must be between 1 and 5000');
    }
    expect(parseParams(revocationStreamParams, {})).to.deep.equal({});
    expect(parseParams(revocationStreamParams, { 'Last-Event-ID': '42' })).to.deep.equal({ 'Last-Event-ID': 42 });
    expect(rejection(() => parseParams(revocationStreamParams, { 'Last-Event-ID': '4 2' })).message).to.equal(
      'Last-Event-ID must be a non-negative integer',
    );
  });
});

// The gateway reads a verified token's claims by hand (readClaims, on every
// cache miss) instead of parsing them with the contract's zod schema. These
// properties prove the two agree, so the schema stays the source of truth.
import { expect } from 'chai';
import fc from 'fast-check';
import { accessTokenClaimsSchema, type AccessTokenClaims } from '../../contract/access-token.ts';
import type { VerifiedClaims } from '../../gateway/tokens/claims.ts';
import { readClaims, TokenRejected } from '../../gateway/tokens/verify-access-token.ts';

/** What the gateway insists on: sub, sid, jti, iat, exp as the contract says, and aud when present. */
const requiredByGateway = accessTokenClaimsSchema
  .pick({ sub: true, sid: true, jti: true, iat: true, exp: true })
  .extend({ aud: accessTokenClaimsSchema.shape.aud.optional() });

/** The gateway's view of claims the schema accepted; scope and client_id only when they are strings. */
function expectedView(
  parsed: Pick<AccessTokenClaims, 'sub' | 'sid' | 'jti' | 'iat' | 'exp'> & { aud?: string | string[] },
  payload: Record<string, unknown>,
): VerifiedClaims {
  return {
    sub: parsed.sub,
    sid: parsed.sid,
    jti: parsed.jti,
    iat: parsed.iat,
    exp: parsed.exp,
    aud: parsed.aud === undefined ? [] : typeof parsed.aud === 'string' ? [parsed.aud] : parsed.aud,
    scopes: typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [],
    clientId: typeof payload.client_id === 'string' ? payload.client_id : undefined,
  };
}

function attempt(payload: Record<string, unknown>): VerifiedClaims | TokenRejected {
  try {
    return readClaims(payload);
  } catch (error) {
    if (error instanceof TokenRejected) return error;
    throw error;
  }
}

const word = fc.constantFrom('', 'a', 'notes:read', 'notes:write', 'whoami', 'web', ' ', '  x  ', 'ü');
const validClaims = fc.record({
  iss: fc.string({ minLength: 1 }),
  sub: fc.oneof(fc.uuid(), fc.string({ minLength: 1 })),
  aud: fc.oneof(fc.string(), fc.array(fc.oneof(word, fc.string()), { maxLength: 4 })),
  client_id: fc.string({ minLength: 1 }),
  scope: fc.array(word, { maxLength: 5 }).map((words) => words.join(' ')),
  iat: fc.oneof(fc.integer({ min: 0, max: 2 ** 33 }), fc.double({ noNaN: true, noDefaultInfinity: true })),
  exp: fc.oneof(fc.integer({ min: 0, max: 2 ** 33 }), fc.double({ noNaN: true, noDefaultInfinity: true })),
  jti: fc.uuid(),
  sid: fc.uuid(),
});

/** A valid payload with some claims swapped for any JSON value or left out, and extra claims added. */
const perturbed = fc
  .tuple(
    validClaims,
    fc.dictionary(
      fc.constantFrom('iss', 'sub', 'aud', 'client_id', 'scope', 'iat', 'exp', 'jti', 'sid'),
      fc.option(fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom('', [], [1], ['a', 2], {}, 0, -1, 1.5, true)), { nil: undefined }),
    ),
    fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }),
  )
  .map(([claims, changes, extra]) => JSON.parse(JSON.stringify({ ...extra, ...claims, ...changes })) as Record<string, unknown>);

describe('gateway: claims read by hand agree with the contract schema (contract/access-token.ts)', () => {
  it('accepts every payload the contract schema accepts, with the same values', () => {
    fc.assert(
      fc.property(validClaims, (claims) => {
        const payload = JSON.parse(JSON.stringify(claims)) as Record<string, unknown>;
        const parsed = accessTokenClaimsSchema.parse(payload);
        expect(readClaims(payload)).to.deep.equal(expectedView(parsed, payload));
      }),
      { numRuns: 2000 },
    );
  });

  it('rejects exactly the payloads whose sub, sid, jti, iat, exp or aud break the contract', () => {
    let rejected = 0;
    fc.assert(
      fc.property(perturbed, (payload) => {
        const schema = requiredByGateway.safeParse(payload);
        const read = attempt(payload);
        if (schema.success) expect(read, JSON.stringify(payload)).to.deep.equal(expectedView(schema.data, payload));
        else {
          rejected += 1;
          expect(read instanceof TokenRejected, `accepted what the schema refuses: ${JSON.stringify(payload)}`).to.be.ok;
        }
      }),
      { numRuns: 5000 },
    );
    expect(rejected > 500, `the generator exercised rejection (${rejected} of 5000)`).to.be.ok;
  });

  it('refuses an aud that is neither a string nor a list of strings', () => {
    const base = { sub: 's', sid: 'x', jti: 'j', iat: 1, exp: 2 };
    for (const aud of [5, {}, [1], ['a', null], null]) {
      expect(() => readClaims({ ...base, aud } as never), JSON.stringify(aud))
        .to.throw(TokenRejected)
        .with.property('reason', '"aud" claim invalid');
    }
  });
});

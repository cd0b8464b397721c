// RFC 8725 attacks against access-token validation, each tried at the three
// places that validate access tokens: the gateway, the token service's
// introspection endpoint (RFC 7662) and its Bearer-protected /auth/me.
// Every forged token starts from the claims of a genuine token, so the only
// thing wrong with it is the attack; a control test proves that re-signing
// those claims properly is accepted everywhere.
import crypto, { type KeyObject } from 'node:crypto';
import http from 'node:http';
import { expect } from 'chai';
import * as jose from 'jose';
import { basic, registerAndLogin, request, type Reply } from '../support/http.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { DEMO_SERVICE_CLIENT } from '../support/token-service.ts';
import {
  attackerKey,
  b64url,
  signHs256,
  signRs256,
  startAttackerServer,
  unsigned,
  type AttackerKey,
  type AttackerServer,
  type Header,
  type Payload,
} from './forge.ts';

type Target = 'gateway' | 'introspect' | 'me';
const TARGETS: Target[] = ['gateway', 'introspect', 'me'];

interface Raw {
  status: number;
  body: Record<string, unknown> | undefined;
  headers: http.IncomingHttpHeaders;
}

/** A GET with exactly these headers over node:http (fetch refuses some of what attackers send). */
function rawGet(url: string, headers: Record<string, string>): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        let body: Record<string, unknown> | undefined;
        try {
          body = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
        } catch {
          body = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body, headers: res.headers });
      });
    });
    req.on('error', reject);
  });
}

describe('security: JWT attacks (RFC 8725) at the gateway, /oauth/introspect and /auth/me', function () {
  this.timeout(30_000);
  let stack: Stack;
  let T: string;
  let G: string;
  let realKey: KeyObject;
  let realKid: string;
  let publicPem: string;
  let publicJwk: jose.JWK;
  let claims: Payload;
  let genuineAccessToken: string;
  let refreshToken: string;
  let attacker: AttackerKey;
  let attackerServer: AttackerServer;
  /** Forged tokens presented, per attack and target (SUITE_STATS=1 prints them). */
  const tried = new Map<string, number>();

  before(async () => {
    stack = await startStack();
    T = stack.token.url;
    G = stack.gateway.url;
    const { tokens } = await registerAndLogin(T, 'jwt');
    genuineAccessToken = tokens.access_token;
    refreshToken = tokens.refresh_token;
    claims = jose.decodeJwt(tokens.access_token) as Payload;
    const { kid, privateKey } = stack.token.service.keys.signer;
    realKid = kid;
    realKey = privateKey;
    const jwks = (await request<{ keys: jose.JWK[] }>(T, 'GET', '/.well-known/jwks.json')).body;
    publicJwk = jwks.keys.find((key) => key.kid === realKid) as jose.JWK;
    publicPem = crypto
      .createPublicKey({ key: publicJwk as crypto.JsonWebKey, format: 'jwk' })
      .export({ type: 'spki', format: 'pem' }) as string;
    attacker = attackerKey();
    attackerServer = await startAttackerServer(attacker);
  });
  after(async () => {
    if (process.env.SUITE_STATS) {
      console.log(`JWT attacks: ${[...tried.values()].reduce((a, b) => a + b, 0)} presentations`);
      for (const [name, count] of tried) console.log(`  ${name}: ${count}`);
    }
    await attackerServer?.close();
    await stack?.stop();
  });

  const now = () => Math.floor(Date.now() / 1000);
  const goodHeader = (): Header => ({ alg: 'RS256', typ: 'at+jwt', kid: realKid });
  const withClaims = (changes: Payload): Payload => {
    const payload: Payload = { ...claims, ...changes };
    for (const [name, value] of Object.entries(changes)) if (value === undefined) delete payload[name];
    return payload;
  };
  /** Fresh claims (the genuine token's, with new times and jti so nothing is cached). */
  const fresh = (changes: Payload = {}): Payload => withClaims({ iat: now(), exp: now() + 300, jti: crypto.randomUUID(), ...changes });

  async function present(target: Target, token: string): Promise<Raw> {
    switch (target) {
      case 'gateway':
        return rawGet(`${G}/whoami`, { authorization: `Bearer ${token}` });
      case 'me':
        return rawGet(`${T}/auth/me`, { authorization: `Bearer ${token}` });
      case 'introspect': {
        const reply: Reply = await request(T, 'POST', '/oauth/introspect', {
          form: { token, token_type_hint: 'access_token' },
          headers: { authorization: basic(DEMO_SERVICE_CLIENT.id, DEMO_SERVICE_CLIENT.secret) },
        });
        return { status: reply.status, body: reply.body, headers: Object.fromEntries(reply.headers) };
      }
    }
  }

  function expectRejected(target: Target, reply: Raw, what: string): void {
    const context = `${what} at ${target}: ${reply.status} ${JSON.stringify(reply.body)}`;
    if (target === 'introspect') {
      expect(reply.status, context).to.equal(200);
      expect(reply.body, context).to.deep.equal({ active: false });
      return;
    }
    expect(reply.status, context).to.equal(401);
    expect(reply.body?.error, context).to.equal('invalid_token');
    expect(String(reply.headers['www-authenticate']), context).to.match(/^Bearer .*error="invalid_token"/);
  }

  async function expectStillUp(): Promise<void> {
    expect((await request(G, 'GET', '/healthz')).status, 'gateway still up').to.equal(200);
    expect((await request(T, 'GET', '/healthz')).status, 'token service still up').to.equal(200);
  }

  it('control: the genuine claims, properly re-signed, are accepted at all three', async () => {
    const token = signRs256(goodHeader(), fresh(), realKey);
    const gateway = await present('gateway', token);
    expect(gateway.status).to.equal(200);
    expect(gateway.body?.subject).to.equal(claims.sub);
    const introspected = await present('introspect', token);
    expect(introspected.body).to.include({ active: true, sub: claims.sub });
    expect((await present('me', token)).status).to.equal(200);
    expect((await present('me', genuineAccessToken)).status).to.equal(200);
  });

  interface Attack {
    name: string;
    tokens(): Promise<string[]> | string[];
    /** Custom judgement for a target, when "rejected" has a target-specific meaning. */
    judge?: Partial<Record<Target, (reply: Raw, token: string) => void>>;
  }

  const attacks: Attack[] = [
    {
      name: 'alg "none" in any casing (empty and garbage signatures)',
      tokens: () =>
        ['none', 'None', 'NONE', 'nOnE', 'none ', ' none'].flatMap((alg) => [
          unsigned({ alg, typ: 'at+jwt', kid: realKid }, fresh()),
          unsigned({ alg, typ: 'at+jwt', kid: realKid }, fresh(), 'AAAA'),
          unsigned({ alg, typ: 'at+jwt' }, fresh(), b64url('x')),
        ]),
    },
    {
      name: 'HS256 signed with the RSA public key as the HMAC secret',
      tokens: () => {
        const der = crypto.createPublicKey(publicPem).export({ type: 'spki', format: 'der' });
        return [publicPem, publicPem.trim(), der, JSON.stringify(publicJwk), String(publicJwk.n)].flatMap((secret) => [
          signHs256({ alg: 'HS256', typ: 'at+jwt', kid: realKid }, fresh(), secret),
          signHs256({ alg: 'HS256', typ: 'at+jwt' }, fresh(), secret),
          signHs256({ alg: 'HS512', typ: 'at+jwt', kid: realKid }, fresh(), secret),
        ]);
      },
    },
    {
      name: 'a different RSA key presenting the known kid',
      tokens: () => [signRs256(goodHeader(), fresh(), attacker.privateKey)],
    },
    {
      name: 'an unknown kid (signed with a key nobody published)',
      tokens: () => [
        signRs256({ alg: 'RS256', typ: 'at+jwt', kid: attacker.kid }, fresh(), attacker.privateKey),
        signRs256({ alg: 'RS256', typ: 'at+jwt', kid: crypto.randomUUID() }, fresh(), realKey),
        signRs256({ alg: 'RS256', typ: 'at+jwt' }, fresh(), attacker.privateKey),
      ],
    },
    {
      name: 'kid containing path or SQL fragments',
      tokens: () =>
        [
          '../../../../../../etc/passwd',
          '/dev/null',
          'file:///dev/null',
          `${realKid}/../${realKid}`,
          `../${realKid}`,
          `${realKid}' OR '1'='1`,
          "' OR 1=1 --",
          "x'; DROP TABLE signing_keys; --",
          `${realKid}\u0000`,
          '%00',
          '{"$ne": null}',
          '__proto__',
          'constructor',
        ].flatMap((kid) => [
          signRs256({ alg: 'RS256', typ: 'at+jwt', kid }, fresh(), attacker.privateKey),
          signRs256({ alg: 'RS256', typ: 'at+jwt', kid }, fresh(), realKey),
        ]),
    },
    {
      name: '"jku" pointing at an attacker JWKS',
      tokens: () => [
        signRs256({ alg: 'RS256', typ: 'at+jwt', kid: attacker.kid, jku: `${attackerServer.url}/jwks.json` }, fresh(), attacker.privateKey),
        signRs256({ alg: 'RS256', typ: 'at+jwt', kid: realKid, jku: `${attackerServer.url}/jwks.json` }, fresh(), attacker.privateKey),
      ],
    },
    {
      name: '"x5u" pointing at an attacker certificate URL',
      tokens: () => [
        signRs256({ alg: 'RS256', typ: 'at+jwt', kid: attacker.kid, x5u: `${attackerServer.url}/cert.pem` }, fresh(), attacker.privateKey),
        signRs256({ alg: 'RS256', typ: 'at+jwt', kid: realKid, x5u: `${attackerServer.url}/cert.pem` }, fresh(), attacker.privateKey),
      ],
    },
    {
      name: 'an embedded "jwk" header carrying the attacker key',
      tokens: () => [
        signRs256({ alg: 'RS256', typ: 'at+jwt', jwk: attacker.jwk }, fresh(), attacker.privateKey),
        signRs256({ alg: 'RS256', typ: 'at+jwt', kid: attacker.kid, jwk: attacker.jwk }, fresh(), attacker.privateKey),
        signRs256({ alg: 'RS256', typ: 'at+jwt', kid: realKid, jwk: attacker.jwk }, fresh(), attacker.privateKey),
      ],
    },
    {
      // The contract forbids these headers outright: even on a token our own key signed.
      name: '"jku", "x5u", "jwk" or "x5c" headers on a token signed with the real key',
      tokens: () => [
        signRs256({ ...goodHeader(), jku: `${attackerServer.url}/jwks.json` }, fresh(), realKey),
        signRs256({ ...goodHeader(), x5u: `${attackerServer.url}/cert.pem` }, fresh(), realKey),
        signRs256({ ...goodHeader(), jwk: publicJwk }, fresh(), realKey),
        signRs256({ ...goodHeader(), x5c: ['MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA'] }, fresh(), realKey),
      ],
    },
    {
      name: 'missing "exp"',
      tokens: () => [signRs256(goodHeader(), fresh({ exp: undefined }), realKey)],
    },
    {
      name: 'expired beyond the leeway',
      // The gateway grants 30 s of clock tolerance, the token service none: two minutes is beyond both.
      tokens: () => [
        signRs256(goodHeader(), fresh({ iat: now() - 420, exp: now() - 120 }), realKey),
        signRs256(goodHeader(), fresh({ iat: now() - 86_400 * 365, exp: now() - 86_400 * 300 }), realKey),
        signRs256(goodHeader(), fresh({ exp: 0 }), realKey),
        signRs256(goodHeader(), fresh({ exp: String(now() + 300) }), realKey),
      ],
    },
    {
      name: '"nbf" in the future',
      tokens: () => [
        signRs256(goodHeader(), fresh({ nbf: now() + 3600 }), realKey),
        signRs256(goodHeader(), fresh({ nbf: now() + 86_400 * 365 }), realKey),
      ],
    },
    {
      name: 'wrong "iss"',
      tokens: () => {
        const issuer = String(claims.iss);
        return ['http://evil.example', `${issuer}/`, issuer.toUpperCase(), `${issuer}.evil.example`, '', null, [issuer]].map((iss) =>
          signRs256(goodHeader(), fresh({ iss }), realKey),
        );
      },
    },
    {
      name: 'wrong "aud"',
      tokens: () => [
        signRs256(goodHeader(), fresh({ aud: 'https://evil.example' }), realKey),
        signRs256(goodHeader(), fresh({ aud: ['evil', 'also-evil'] }), realKey),
      ],
      judge: {
        // RFC 7662 leaves the audience check to the resource server: introspection must
        // report the token's real audience, never one the caller would accept.
        introspect: (reply, token) => {
          expect(reply.status).to.equal(200);
          if (reply.body?.active === false) return;
          const aud = jose.decodeJwt(token).aud;
          expect(reply.body?.aud, 'introspection reports the real audience').to.deep.equal(aud);
          for (const audience of ['notes', 'whoami', claims.iss]) expect([reply.body?.aud].flat()).not.to.include(audience);
        },
      },
    },
    {
      name: '"typ" missing, "JWT" or otherwise not at+jwt',
      tokens: () =>
        [undefined, 'JWT', 'jwt', 'application/jwt', 'JOSE', 'at+jwt ', 'rt+jwt', ''].map((typ) => {
          const header: Header = { alg: 'RS256', kid: realKid };
          if (typ !== undefined) header.typ = typ;
          return signRs256(header, fresh(), realKey);
        }),
    },
    {
      name: 'a refresh token presented as an access token',
      tokens: () => [refreshToken],
      judge: {
        // Introspection may describe a genuine refresh token, but never as an access token.
        introspect: (reply) => {
          expect(reply.status).to.equal(200);
          if (reply.body?.active === false) return;
          expect(reply.body?.token_type).to.equal('refresh_token');
        },
      },
    },
    {
      name: 'a tampered payload or header under the original signature',
      tokens: () => {
        const [header, payload, signature] = genuineAccessToken.split('.') as [string, string, string];
        const decoded = jose.decodeJwt(genuineAccessToken);
        return [
          `${header}.${b64url({ ...decoded, sub: crypto.randomUUID() })}.${signature}`,
          `${header}.${b64url({ ...decoded, scope: `${String(decoded.scope)} admin` })}.${signature}`,
          `${header}.${b64url({ ...decoded, exp: now() + 86_400 })}.${signature}`,
          `${b64url({ alg: 'RS256', typ: 'at+jwt', kid: realKid, extra: 1 })}.${payload}.${signature}`,
          // Flipping one signature bit.
          `${header}.${payload}.${signature.slice(0, -2)}${signature.endsWith('A') ? 'B' : 'A'}${signature.slice(-1)}`,
          // Same payload JSON with padding / non-canonical base64url.
          `${header}.${payload}=.${signature}`,
        ];
      },
    },
    {
      name: 'truncated and extra segments',
      tokens: () => {
        const [header, payload, signature] = genuineAccessToken.split('.') as [string, string, string];
        return [
          `${header}.${payload}`,
          `${header}.${payload}.`,
          header,
          `${header}.`,
          `.${payload}.${signature}`,
          `${header}..${signature}`,
          `${header}.${payload}.${signature.slice(0, 20)}`,
          `${header}.${payload}.${signature}.`,
          `${header}.${payload}.${signature}.${signature}`,
          `${header}.${payload}.${signature}.x.y`,
          `${header}.${header}.${payload}.${signature}`,
        ];
      },
    },
    {
      name: 'a JWE (encrypted to the published key) instead of a JWS',
      tokens: async () => {
        const key = await jose.importJWK(publicJwk, 'RSA-OAEP-256');
        const plaintext = new TextEncoder().encode(JSON.stringify(fresh()));
        return [
          await new jose.CompactEncrypt(plaintext)
            .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', typ: 'at+jwt', kid: realKid })
            .encrypt(key),
          // A nested JWT: the genuine JWS inside a JWE.
          await new jose.CompactEncrypt(new TextEncoder().encode(genuineAccessToken))
            .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', cty: 'JWT', kid: realKid })
            .encrypt(key),
          // "dir" with a key derived from public material.
          await new jose.CompactEncrypt(plaintext)
            .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: realKid })
            .encrypt(crypto.createHash('sha256').update(publicPem).digest()),
        ];
      },
    },
    {
      name: 'a "crit" header, even one naming an extension jose knows (b64)',
      tokens: () => [
        signRs256({ ...goodHeader(), crit: ['b64'], b64: true }, fresh(), realKey),
        signRs256({ ...goodHeader(), crit: ['urn:example:evil'], 'urn:example:evil': true }, fresh(), realKey),
        signRs256({ ...goodHeader(), crit: ['exp'] }, fresh(), realKey),
        signRs256({ ...goodHeader(), crit: [] }, fresh(), realKey),
        signRs256({ ...goodHeader(), crit: 'b64', b64: false }, fresh(), realKey),
      ],
    },
  ];

  for (const attack of attacks) {
    for (const target of TARGETS) {
      it(`${target}: rejects ${attack.name}`, async () => {
        const hitsBefore = attackerServer.hits;
        const tokens = await attack.tokens();
        expect(tokens.length).to.be.greaterThan(0);
        for (const token of tokens) {
          tried.set(`${attack.name} @ ${target}`, (tried.get(`${attack.name} @ ${target}`) ?? 0) + 1);
          const reply = await present(target, token);
          const judge = attack.judge?.[target];
          if (judge) judge(reply, token);
          else expectRejected(target, reply, `${attack.name} (${token.slice(0, 60)}…)`);
        }
        expect(attackerServer.hits, 'nothing fetched the attacker URL').to.equal(hitsBefore);
        await expectStillUp();
      });
    }
  }

  describe('a huge token', () => {
    // 12 KB fits in Node's 16 KB header limit but not in any sane token budget; 80 KB does not fit.
    const sizes = [12 * 1024, 80 * 1024];
    /** A genuinely signed token of about `size` characters (base64url grows the padding by 4/3). */
    const hugeToken = (size: number) => {
      const token = signRs256(goodHeader(), fresh({ padding: 'x'.repeat(Math.floor((size * 3) / 4) - 700) }), realKey);
      expect(token.length).to.be.within(size - 600, size + 100);
      return token;
    };

    it('gateway: answers 431 or 401, never a crash', async () => {
      for (const size of sizes) {
        const reply = await rawGet(`${G}/whoami`, { authorization: `Bearer ${hugeToken(size)}` });
        expect(reply.status, `${size} bytes`).to.be.oneOf([401, 431]);
        if (reply.status === 401) expect(reply.body?.error).to.equal('invalid_token');
      }
      const reply = await rawGet(`${G}/whoami`, { authorization: `Bearer ${hugeToken(80 * 1024)}` });
      expect(reply.status, 'beyond the header limit').to.equal(431);
      await expectStillUp();
    });

    it('me: answers 431 or 401, never a crash', async () => {
      for (const size of sizes) {
        const reply = await rawGet(`${T}/auth/me`, { authorization: `Bearer ${hugeToken(size)}` });
        expect(reply.status, `${size} bytes`).to.be.oneOf([401, 431]);
      }
      await expectStillUp();
    });

    it('introspect: answers 400 or 413 (over-long field, oversized body), never a crash', async () => {
      for (const size of [9 * 1024, ...sizes]) {
        const reply = await present('introspect', hugeToken(size));
        expect(reply.status, `${size} bytes`).to.be.oneOf([400, 413]);
        expect(reply.body).to.have.keys('error', 'error_description');
      }
      await expectStillUp();
    });
  });

  it('leaves the signing keys untouched after all of the above', async () => {
    const keys = await stack.token.service.knex('signing_keys').select('kid');
    expect(keys.map((row: { kid: string }) => row.kid)).to.deep.equal([realKid]);
    expect((await present('me', genuineAccessToken)).status).to.equal(200);
  });
});

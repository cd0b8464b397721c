// Property-based fuzzing of every token-service endpoint (enumerated from the
// router, so endpoints added later are fuzzed too): random and adversarial
// bodies (wrong types, huge strings, unicode, nested JSON, duplicate
// parameters, wrong content types, form vs JSON), headers, query strings and
// paths, with real tokens and credentials mixed in so the requests get deep.
// Browser sign-in is fuzzed the same way: /oauth/authorize and /oauth/end-session
// read their request from the query (on GET, and under the login, consent and
// logout forms), so queries start from a valid request too, and requests carry
// a real sign-in cookie, CSRF token, fresh authorization code and ID token.
// Properties: never a 5xx, never a crash, errors in the documented shape (an
// HTML error page, never framed or cached, for the browser endpoints), and a
// rejected request leaves the database as it was.
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import fc from 'fast-check';
import * as jose from 'jose';
import { buildRouter } from '../../services/token/app.ts';
import { RevocationStreams } from '../../services/token/actions/revocation-feed.ts';
import { s256Challenge } from '../../services/token/helpers/pkce.ts';
import { randomToken } from '../../services/token/helpers/secrets.ts';
import { TestBrowser } from '../support/browser.ts';
import { basic, registerAndLogin, request } from '../support/http.ts';
import { DEMO_SERVICE_CLIENT, GATEWAY_CLIENT, startTestTokenService, type TestTokenService } from '../support/token-service.ts';
import {
  check,
  FuzzStats,
  garbageBytes,
  headerValue,
  nastyJson,
  nastyString,
  rowCounts,
  runs,
  send,
  segment,
  sendRaw,
  statusesIn,
  type Exchange,
  type RawRequest,
} from './support.ts';

/** Real credentials, renewed for every property so that earlier runs' logouts do not starve later ones. */
interface Pool {
  access: string;
  refresh: string;
  machine: string;
  username: string;
  email: string;
  password: string;
  sid: string;
  /** A browser signed in through demo-app (consent given): its cookies, PKCE pair and ID token. */
  signin: string;
  csrf: string;
  verifier: string;
  challenge: string;
  idToken: string;
  signinSid: string;
}

const DEMO_APP = { id: 'demo-app', redirect: 'http://127.0.0.1/callback', signedOut: 'http://127.0.0.1/signed-out' };
/** The test service's issuer is not plain-HTTP loopback: its cookies carry the __Host- prefix. */
const SIGNIN_COOKIE = '__Host-signin';
const CSRF_COOKIE = '__Host-csrf';
/** Endpoints a browser navigates to: they answer with HTML pages and read their request from the query. */
const BROWSER_PATHS = ['/oauth/authorize', '/oauth/end-session'];

const FIELD_NAMES = [
  'grant_type',
  'client_id',
  'client_secret',
  'username',
  'email',
  'password',
  'scope',
  'refresh_token',
  'token',
  'token_type_hint',
  'response_type',
  'redirect_uri',
  'code',
  'code_verifier',
  'code_challenge',
  'code_challenge_method',
  'state',
  'nonce',
  'prompt',
  'max_age',
  'login_hint',
  'resource',
  'id_token_hint',
  'post_logout_redirect_uri',
  'csrf',
  'action',
  'decision',
  'confirm',
  '__proto__',
  'constructor',
] as const;

// Symbolic values, resolved against the pool when the request is built.
const SYMBOLS = [
  '$access',
  '$refresh',
  '$machine',
  '$username',
  '$email',
  '$password',
  '$sid',
  '$demo_secret',
  '$code',
  '$verifier',
  '$challenge',
  '$csrf',
  '$id_token',
  '$redirect',
  '$signed_out',
] as const;
const GOOD_VALUES = [
  'web',
  'demo-service',
  'gateway',
  'password',
  'refresh_token',
  'client_credentials',
  'authorization_code',
  'local',
  'global',
  'others',
  'access_token',
  'openid',
  'notes:read',
  'openid notes:read',
  'demo-app',
  'code',
  'token',
  'S256',
  'plain',
  'none',
  'login',
  'consent',
  'none login',
  'allow',
  'deny',
  'yes',
  '0',
  'notes',
  'whoami',
  'https://evil.example/cb',
  'http://127.0.0.1:65536/callback',
  'http://127.0.0.1:8080/callback',
  'http://localhost/callback',
  'javascript:alert(1)',
  '//evil.example',
  '<script>alert(1)</script>',
] as const;

const fieldValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(...SYMBOLS) },
  { weight: 2, arbitrary: fc.constantFrom(...GOOD_VALUES) },
  { weight: 4, arbitrary: nastyJson },
  { weight: 1, arbitrary: fc.array(fc.constantFrom(...SYMBOLS, ...GOOD_VALUES), { minLength: 2, maxLength: 3 }) },
);

/** Valid requests per endpoint, which the fuzzer then mutates: the way past the first validation. */
const TEMPLATES: Record<string, Array<Array<[string, unknown]>>> = {
  '/oauth/token': [
    [
      ['grant_type', 'authorization_code'],
      ['client_id', DEMO_APP.id],
      ['code', '$code'],
      ['redirect_uri', '$redirect'],
      ['code_verifier', '$verifier'],
    ],
    [
      ['grant_type', 'password'],
      ['client_id', 'web'],
      ['username', '$username'],
      ['password', '$password'],
    ],
    [
      ['grant_type', 'refresh_token'],
      ['client_id', 'web'],
      ['refresh_token', '$refresh'],
    ],
    [
      ['grant_type', 'client_credentials'],
      ['client_id', 'demo-service'],
      ['client_secret', '$demo_secret'],
    ],
  ],
  '/oauth/revoke': [
    [
      ['token', '$access'],
      ['client_id', 'web'],
    ],
    [
      ['token', '$refresh'],
      ['client_id', 'web'],
      ['token_type_hint', 'refresh_token'],
    ],
    [
      ['token', '$machine'],
      ['client_id', 'demo-service'],
      ['client_secret', '$demo_secret'],
    ],
  ],
  '/oauth/introspect': [
    [
      ['token', '$access'],
      ['client_id', 'demo-service'],
      ['client_secret', '$demo_secret'],
    ],
    [
      ['token', '$refresh'],
      ['client_id', 'demo-service'],
      ['client_secret', '$demo_secret'],
    ],
  ],
  '/auth/register': [
    [
      ['username', '$new_username'],
      ['email', '$new_email'],
      ['password', 'Correct-Horse-Battery-9'],
    ],
  ],
  '/auth/login': [
    [
      ['username', '$username'],
      ['password', '$password'],
    ],
    [
      ['email', '$email'],
      ['password', '$password'],
      ['scope', 'notes:read'],
    ],
  ],
  '/auth/logout': [[['scope', 'local']], [['scope', 'others']], [['scope', 'global']]],
  // The login and consent forms (the request is in the query), and a client's POST of the request itself.
  '/oauth/authorize': [
    [
      ['action', 'login'],
      ['csrf', '$csrf'],
      ['username', '$username'],
      ['password', '$password'],
    ],
    [
      ['action', 'consent'],
      ['csrf', '$csrf'],
      ['decision', 'allow'],
    ],
    [
      ['response_type', 'code'],
      ['client_id', DEMO_APP.id],
      ['redirect_uri', '$redirect'],
      ['code_challenge', '$challenge'],
      ['code_challenge_method', 'S256'],
    ],
  ],
  '/oauth/end-session': [
    [
      ['csrf', '$csrf'],
      ['confirm', 'yes'],
    ],
    [
      ['id_token_hint', '$id_token'],
      ['post_logout_redirect_uri', '$signed_out'],
      ['state', 'xyz'],
    ],
  ],
};

/** Valid query strings of the endpoints that read one, which the fuzzer then mutates. */
const QUERY_TEMPLATES: Record<string, Array<Array<[string, string]>>> = {
  '/oauth/authorize': [
    [
      ['response_type', 'code'],
      ['client_id', DEMO_APP.id],
      ['redirect_uri', '$redirect'],
      ['scope', 'openid notes:read'],
      ['state', 'st4te'],
      ['nonce', 'n0nce'],
      ['code_challenge', '$challenge'],
      ['code_challenge_method', 'S256'],
    ],
    [
      ['response_type', 'code'],
      ['client_id', DEMO_APP.id],
      ['redirect_uri', '$redirect'],
      ['code_challenge', '$challenge'],
      ['code_challenge_method', 'S256'],
      ['prompt', 'none'],
    ],
  ],
  '/oauth/end-session': [
    [
      ['client_id', DEMO_APP.id],
      ['post_logout_redirect_uri', '$signed_out'],
      ['state', 'st4te'],
    ],
    [
      ['id_token_hint', '$id_token'],
      ['post_logout_redirect_uri', '$signed_out'],
    ],
  ],
};

/** `forms`: the endpoint takes forms only (the browser endpoints), so most bodies are forms, to get past the media type. */
const bodySpec = (forms: boolean) =>
  fc.record({
    template: fc.oneof({ weight: 1, arbitrary: fc.constant(-1) }, { weight: 2, arbitrary: fc.nat(2) }),
    fields: fc.array(
      fc.tuple(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...FIELD_NAMES) }, { weight: 1, arbitrary: nastyString }), fieldValue),
      {
        maxLength: 4,
      },
    ),
    encoding: forms
      ? fc.constantFrom('json', 'form', 'form', 'form', 'form', 'form', 'form', 'raw', 'none', 'deep')
      : fc.constantFrom('json', 'json', 'json', 'form', 'form', 'form', 'raw', 'none', 'deep'),
    contentType: fc.oneof(
      { weight: 12, arbitrary: fc.constant('matching') },
      {
        weight: 2,
        arbitrary: fc.constantFrom(
          'application/json',
          'application/x-www-form-urlencoded',
          'application/json; charset=utf-16',
          'application/x-www-form-urlencoded; charset=latin1',
          'text/plain',
          'application/xml',
          'multipart/form-data; boundary=x',
          'application/jose',
          '*/*',
          '',
        ),
      },
      { weight: 1, arbitrary: headerValue },
    ),
    formExtras: fc.array(fc.constantFrom('&&', '=x', 'a[b]=c', 'a[]=1', '__proto__[admin]=1', 'x=%zz', '%', 'grant_type', 'k=v=w', '+'), {
      maxLength: 3,
    }),
    raw: nastyString,
    depth: fc.integer({ min: 1, max: 5000 }),
    contentEncoding: fc.oneof(
      { weight: 12, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'compress', 'bogus') },
    ),
  });

const authSpec = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom('bearer:access', 'basic:demo', 'none') },
  fc.constantFrom(
    'none',
    'bearer:access',
    'bearer:refresh',
    'bearer:machine',
    'basic:demo',
    'basic:gateway',
    'basic:web',
    'basic:wrong',
    'basic:nocolon',
    'basic:badbase64',
    'bearer:empty',
    'bearer:huge',
    'both',
  ),
  headerValue.map((value) => `raw:${value}`),
);

const extraHeaders = fc.dictionary(
  fc.constantFrom(
    'accept',
    'last-event-id',
    'origin',
    'x-forwarded-for',
    'user-agent',
    'x-request-id',
    'cookie',
    'accept-encoding',
    'access-control-request-method',
    'if-none-match',
    'range',
  ),
  headerValue,
  { maxKeys: 4 },
);

const pathSegment = fc.oneof(
  nastyString.map(segment),
  fc.constantFrom('%', '%zz', '%00', '..', '.', '%2e%2e', '', ';x', '*', '%2F', 'x%0D%0AX-Injected:%201'),
  fc.constantFrom('$sid', '$uuid', '$signin_sid', 'demo-app'),
);

const queryPairs = fc.array(
  fc.tuple(
    fc.oneof(
      { weight: 2, arbitrary: fc.constantFrom('after', 'limit', 'x', 'after', 'token', 'access_token') },
      { weight: 3, arbitrary: fc.constantFrom(...FIELD_NAMES) },
    ),
    fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom('0', '1', '5000', '5001', '-1', '1.5', '1e3', '', '999999999999999999') },
      { weight: 3, arbitrary: fc.constantFrom(...SYMBOLS, ...GOOD_VALUES) },
      { weight: 2, arbitrary: nastyString },
    ),
  ),
  { maxLength: 3 },
);

/** A query: none, a template (when the endpoint has one) plus mutations, or pairs alone. */
const querySpec = fc.record({
  template: fc.oneof({ weight: 1, arbitrary: fc.constant(-1) }, { weight: 3, arbitrary: fc.nat(1) }),
  // Template parameters to leave out: the way to reach each "missing parameter" branch.
  omit: fc.array(fc.nat(7), { maxLength: 2 }),
  pairs: fc.oneof({ weight: 1, arbitrary: fc.constant([] as Array<[string, string]>) }, { weight: 2, arbitrary: queryPairs }),
});

/** Which of the pool's browser cookies a request carries. */
const cookieSpec = fc.constantFrom('none', 'signin', 'csrf', 'both', 'both', 'both');

interface QuerySpec {
  template: number;
  omit: number[];
  pairs: Array<[string, string]>;
}

interface RequestSpec {
  method: string;
  params: string[];
  query: QuerySpec;
  cookies: string;
  auth: string;
  headers: Record<string, string>;
  body: BodySpec;
}

interface BodySpec {
  template: number;
  fields: Array<[string, unknown]>;
  encoding: string;
  contentType: string;
  formExtras: string[];
  raw: string;
  depth: number;
  contentEncoding: string | null;
}

describe('fuzz: token service endpoints (fast-check)', function () {
  this.timeout(120_000);
  let svc: TestTokenService;
  let T: string;
  let pool: Pool;
  const stats = new FuzzStats();
  const endpoints = buildRouter({} as never, new RevocationStreams()).stack.map((layer) => ({
    path: String(layer.path),
    methods: layer.methods.filter((method) => method !== 'HEAD'),
  }));

  before(async () => {
    svc = await startTestTokenService({
      env: {
        // A rejected replay of a just-rotated token must not revoke anything during the run.
        REFRESH_REUSE_GRACE: '1h',
        // Throttling (delays, 429s) is not what is fuzzed here.
        LOGIN_THROTTLE_ACCOUNT_FREE: '1000000',
        LOGIN_THROTTLE_IP_FREE: '1000000',
      },
    });
    T = svc.url;
  });
  after(async () => {
    if (process.env.SUITE_STATS) console.log(stats.report('token service fuzzing'));
    await svc?.stop();
  });

  beforeEach(() => renewPool());

  async function renewPool(): Promise<void> {
    const { user, tokens } = await registerAndLogin(T, 'fuzz');
    const machine = await request<{ access_token: string }>(T, 'POST', '/oauth/token', {
      form: { grant_type: 'client_credentials' },
      headers: { authorization: basic(DEMO_SERVICE_CLIENT.id, DEMO_SERVICE_CLIENT.secret) },
    });
    pool = {
      access: tokens.access_token,
      refresh: tokens.refresh_token,
      machine: machine.body.access_token,
      username: user.username,
      email: user.email,
      password: user.password,
      sid: String(jose.decodeJwt(tokens.access_token).sid),
      ...(await browserSignIn(user)),
    };
  }

  /** A browser signs in through demo-app (a third-party client: login, then consent unless given before). */
  async function browserSignIn(user: { username: string; password: string }) {
    const browser = new TestBrowser();
    const verifier = randomToken(32);
    const challenge = s256Challenge(verifier);
    const login = await browser.fetch(`${T}/oauth/authorize?${authorizationQuery(challenge)}`);
    let back = await browser.submit(login, { username: user.username, password: user.password });
    if (back.status === 200) back = await browser.submit(back, { decision: 'allow' });
    const code = new URL(back.location ?? 'http://x/').searchParams.get('code');
    const exchanged = await request<{ id_token: string }>(T, 'POST', '/oauth/token', {
      form: {
        grant_type: 'authorization_code',
        client_id: DEMO_APP.id,
        code: String(code),
        redirect_uri: DEMO_APP.redirect,
        code_verifier: verifier,
      },
    });
    expect(exchanged.status, 'the pool’s browser sign-in').to.equal(200);
    return {
      signin: browser.cookies(T).get(SIGNIN_COOKIE) as string,
      csrf: browser.cookies(T).get(CSRF_COOKIE) as string,
      verifier,
      challenge,
      idToken: exchanged.body.id_token,
      signinSid: String(jose.decodeJwt(exchanged.body.id_token).sid),
    };
  }

  const authorizationQuery = (challenge: string): string =>
    new URLSearchParams({
      response_type: 'code',
      client_id: DEMO_APP.id,
      redirect_uri: DEMO_APP.redirect,
      scope: 'openid notes:read',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }).toString();

  /** Has the pool's browser sign-in ended, or its consent been withdrawn? */
  async function browserSignInSpent(): Promise<boolean> {
    const { knex } = svc.service;
    const signin = await knex('signin_sessions').where({ id: pool.signinSid }).first();
    const consent = await knex('consents')
      .where({ user_id: signin?.user_id ?? null, client_id: DEMO_APP.id })
      .first();
    return !signin || signin.ended_at !== null || !consent;
  }

  /** A fresh code from the pool's sign-in session (each used once: a replay would rightly revoke its family). */
  async function freshCode(): Promise<string> {
    const reply = await send(T, {
      method: 'GET',
      path: `/oauth/authorize?${authorizationQuery(pool.challenge)}`,
      headers: { cookie: `${SIGNIN_COOKIE}=${pool.signin}` },
    });
    const location = reply.headers.location;
    // The sign-in may have been ended or the consent withdrawn by an earlier run: a made-up code then.
    return (location && new URL(location).searchParams.get('code')) || randomToken(32);
  }

  afterEach(async () => {
    expect((await request(T, 'GET', '/healthz')).status, 'still alive').to.equal(200);
    expect((await request(T, 'GET', '/readyz')).status, 'still ready').to.equal(200);
  });

  /** Codes issued for the request being built, taken in order by `$code`. */
  let codes: string[] = [];

  const resolve = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(resolve);
    switch (value) {
      case '$code':
        return codes.shift() ?? randomToken(32);
      case '$verifier':
        return pool.verifier;
      case '$challenge':
        return pool.challenge;
      case '$csrf':
        return pool.csrf;
      case '$id_token':
        return pool.idToken;
      case '$redirect':
        return DEMO_APP.redirect;
      case '$signed_out':
        return DEMO_APP.signedOut;
      case '$access':
        return pool.access;
      case '$refresh':
        return pool.refresh;
      case '$machine':
        return pool.machine;
      case '$username':
        return pool.username;
      case '$email':
        return pool.email;
      case '$password':
        return pool.password;
      case '$sid':
        return pool.sid;
      case '$demo_secret':
        return DEMO_SERVICE_CLIENT.secret;
      case '$new_username':
        return `fz${randomUUID().slice(0, 8)}`;
      case '$new_email':
        return `fz${randomUUID().slice(0, 8)}@example.com`;
      default:
        return value;
    }
  };

  function authorization(spec: string): string | undefined {
    switch (spec) {
      case 'none':
        return undefined;
      case 'bearer:access':
        return `Bearer ${pool.access}`;
      case 'bearer:refresh':
        return `Bearer ${pool.refresh}`;
      case 'bearer:machine':
        return `Bearer ${pool.machine}`;
      case 'basic:demo':
        return basic(DEMO_SERVICE_CLIENT.id, DEMO_SERVICE_CLIENT.secret);
      case 'basic:gateway':
        return basic(GATEWAY_CLIENT.id, GATEWAY_CLIENT.secret);
      case 'basic:web':
        return basic('web', '');
      case 'basic:wrong':
        return basic(DEMO_SERVICE_CLIENT.id, 'wrong');
      case 'basic:nocolon':
        return `Basic ${Buffer.from('demo-service').toString('base64')}`;
      case 'basic:badbase64':
        return 'Basic !!!%%%';
      case 'bearer:empty':
        return 'Bearer ';
      case 'bearer:huge':
        return `Bearer ${'A'.repeat(12_000)}`;
      case 'both':
        return `Bearer ${pool.access}, ${basic(DEMO_SERVICE_CLIENT.id, DEMO_SERVICE_CLIENT.secret)}`;
      default:
        return spec.slice(4);
    }
  }

  function encodeBody(spec: BodySpec, path: string): { body: string | undefined; contentType: string | undefined } {
    const template = spec.template >= 0 ? (TEMPLATES[path]?.[spec.template % (TEMPLATES[path]?.length ?? 1)] ?? []) : [];
    const entries = [...template, ...spec.fields].map(([name, value]) => [name, resolve(value)] as const);
    const matching = (type: string) => (spec.contentType === 'matching' ? type : spec.contentType);
    switch (spec.encoding) {
      case 'json':
        return { body: JSON.stringify(Object.fromEntries(entries)), contentType: matching('application/json') };
      case 'form': {
        const pairs: string[] = [];
        for (const [name, value] of entries) {
          for (const item of Array.isArray(value) ? value : [value]) {
            pairs.push(`${segment(name)}=${segment(typeof item === 'string' ? item : (JSON.stringify(item) ?? ''))}`);
          }
        }
        return { body: [...pairs, ...spec.formExtras].join('&'), contentType: matching('application/x-www-form-urlencoded') };
      }
      case 'raw':
        return {
          body: spec.raw,
          contentType: matching(path.startsWith('/oauth/') ? 'application/x-www-form-urlencoded' : 'application/json'),
        };
      case 'deep':
        return { body: `${'['.repeat(spec.depth)}${']'.repeat(spec.depth)}`, contentType: matching('application/json') };
      default:
        return { body: undefined, contentType: spec.contentType === 'matching' ? undefined : spec.contentType };
    }
  }

  function encodeQuery(spec: QuerySpec, path: string): string {
    const templates = QUERY_TEMPLATES[path];
    const template = spec.template >= 0 && templates ? (templates[spec.template % templates.length] ?? []) : [];
    const kept = template.filter((_, index) => !spec.omit.includes(index));
    return [...kept, ...spec.pairs].map(([name, value]) => `${segment(name)}=${segment(String(resolve(value)))}`).join('&');
  }

  function cookieHeader(spec: string, extra: string | undefined): string | undefined {
    const cookies = [
      ...(spec === 'signin' || spec === 'both' ? [`${SIGNIN_COOKIE}=${pool.signin}`] : []),
      ...(spec === 'csrf' || spec === 'both' ? [`${CSRF_COOKIE}=${pool.csrf}`] : []),
      ...(extra === undefined ? [] : [extra]),
    ];
    return cookies.length === 0 ? undefined : cookies.join('; ');
  }

  async function build(template: string, spec: RequestSpec): Promise<RawRequest> {
    const wanted = JSON.stringify(spec).split('"$code"').length - 1;
    codes = [];
    for (let i = 0; i < wanted; i += 1) codes.push(await freshCode());
    let params = [...spec.params];
    const path = template.replace(/:[a-z_]+/g, () => {
      const next = params[0] ?? 'x';
      params = params.slice(1);
      if (next === '$sid') return pool.sid;
      if (next === '$signin_sid') return pool.signinSid;
      if (next === '$uuid') return randomUUID();
      return next;
    });
    const query = encodeQuery(spec.query, path);
    const { body, contentType } = encodeBody(spec.body, path);
    const headers: Record<string, string> = { ...spec.headers };
    const cookie = cookieHeader(spec.cookies, headers.cookie);
    if (cookie !== undefined) headers.cookie = cookie;
    const auth = authorization(spec.auth);
    if (auth !== undefined) headers.authorization = auth;
    if (contentType !== undefined) headers['content-type'] = contentType;
    if (spec.body.contentEncoding) headers['content-encoding'] = spec.body.contentEncoding;
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
    return { method: spec.method, path: query ? `${path}?${query}` : path, headers, body };
  }

  /** The documented error shapes (README, "Token service API"). */
  function expectErrorShape(path: string, reply: Exchange, what: string): void {
    const { status, text } = reply;
    // Node's HTTP parser refuses oversized or late headers (431, 408) before any request exists.
    if ((status === 431 || status === 408) && text === '') return;
    // The router matches a path with a trailing slash too.
    if (BROWSER_PATHS.includes(path.replace(/\/$/, '')) && String(reply.headers['content-type']).startsWith('text/html')) {
      // An error page (or the form again, with its error): a whole page, never framed or cached, no markup from the input.
      expect(text.startsWith('<!doctype html>'), `${what}: an HTML page`).to.equal(true);
      expect(text, `${what}: the error shown`).to.include('role="alert"');
      expect(text, `${what}: markup from the input`).not.to.match(/<script|<img|<iframe|javascript:/i);
      expect(reply.headers['content-security-policy'], what).to.include("frame-ancestors 'none'");
      expect(reply.headers['x-frame-options'], what).to.equal('DENY');
      expect(reply.headers['cache-control'], what).to.equal('no-store');
      expect(reply.headers.location, `${what}: an error page redirects`).to.equal(undefined);
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error(`${what}: error ${status} without a JSON body: ${text.slice(0, 200)}`);
    }
    const oauth = path.startsWith('/oauth/') || path.startsWith('/revocations');
    const keys = oauth ? ['error', 'error_description'] : ['error', 'message'];
    expect(body, what).to.be.an('object');
    expect(Object.keys(body as object).sort(), what).to.deep.equal(keys);
    for (const key of keys)
      expect((body as Record<string, unknown>)[key], `${what}: ${key}`)
        .to.be.a('string')
        .and.not.equal('');
  }

  async function exercise(property: string, req: RawRequest): Promise<void> {
    const what = `${req.method} ${req.path.slice(0, 120)} ${JSON.stringify(req.headers).slice(0, 300)} ${String(req.body ?? '').slice(0, 200)}`;
    const before = await rowCounts(svc.service.knex);
    const reply = await send(T, req);
    stats.record(property, reply.status);
    expect(reply.status, `${what} → ${reply.status} ${reply.text.slice(0, 200)}`).to.be.within(100, 499);
    // A successful logout or revocation spends the pool: renew it so later runs still get deep.
    if (reply.status < 300 && /logout|sessions\/|revoke/.test(req.path)) await renewPool();
    else if (reply.status < 400 && /end-session|consents\//.test(req.path) && (await browserSignInSpent())) {
      pool = { ...pool, ...(await browserSignIn(pool)) };
    }
    if (reply.status >= 400) {
      if (req.method !== 'HEAD') expectErrorShape(req.path.split('?')[0] as string, reply, what);
      expect(await rowCounts(svc.service.knex), `${what}: a rejected request changed the database`).to.deep.equal(before);
    }
  }

  const PREFERRED_AUTH: Record<string, string[]> = {
    '/revocations': ['basic:gateway'],
    '/revocations/stream': ['basic:gateway'],
    '/oauth/introspect': ['basic:demo'],
    '/oauth/token': ['none', 'basic:demo'],
  };
  const requestSpec = (methods: string[], path = ''): fc.Arbitrary<RequestSpec> =>
    fc.record({
      method: fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(...methods) },
        { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD') },
      ),
      params: fc.array(pathSegment, { minLength: 1, maxLength: 2 }),
      query: querySpec,
      cookies: cookieSpec,
      auth: fc.oneof(
        { weight: 1, arbitrary: authSpec },
        { weight: 1, arbitrary: fc.constantFrom(...(PREFERRED_AUTH[path] ?? ['bearer:access'])) },
      ),
      headers: extraHeaders,
      body: bodySpec(BROWSER_PATHS.includes(path)),
    }) as fc.Arbitrary<RequestSpec>;

  it('enumerates the endpoints to fuzz from the router', () => {
    expect(endpoints.map((endpoint) => endpoint.path)).to.include.members([
      '/oauth/token',
      '/oauth/revoke',
      '/oauth/introspect',
      '/auth/register',
      '/auth/login',
      '/auth/logout',
      '/auth/me',
      '/auth/sessions',
      '/auth/sessions/:id',
      '/revocations',
      '/revocations/stream',
      '/oauth/authorize',
      '/oauth/end-session',
      '/oauth/userinfo',
      '/auth/signin-sessions',
      '/auth/consents',
    ]);
  });

  for (const endpoint of endpoints) {
    // The grant and account endpoints are where the logic is: more runs there.
    const deep = endpoint.methods.includes('POST') || endpoint.path.startsWith('/auth/') || BROWSER_PATHS.includes(endpoint.path);
    it(`${endpoint.methods.join('/')} ${endpoint.path}: never 5xx, documented error shape, rejected requests change nothing`, async () => {
      await check(
        endpoint.path,
        requestSpec(endpoint.methods, endpoint.path),
        async (spec) => exercise(`${endpoint.methods.join('/')} ${endpoint.path}`, await build(endpoint.path, spec)),
        runs(deep ? 80 : 20),
      );
    });
  }

  it('random paths and methods: 404/405 in the documented shape, never 5xx', async () => {
    const prefixes = fc.constantFrom(
      '',
      '/oauth',
      '/auth',
      '/revocations',
      '/.well-known',
      '/admin',
      '/auth/sessions',
      '/oauth/token',
      '/oauth/authorize',
      '/auth/signin-sessions',
    );
    const spec = fc.tuple(prefixes, fc.array(pathSegment, { maxLength: 4 }), requestSpec(['GET', 'POST', 'DELETE']));
    await check(
      'random paths',
      spec,
      async ([prefix, segments, rest]) => {
        const path = `${prefix}/${segments.map((s) => (s === '$sid' ? pool.sid : s === '$uuid' ? randomUUID() : s)).join('/')}`;
        return exercise('random paths', await build(path.replace(/^\/\//, '/'), rest));
      },
      runs(100),
    );
  });

  it('raw bytes that are not quite HTTP: a 4xx or a closed connection, never 5xx, never a crash', async () => {
    await check(
      'raw garbage',
      garbageBytes,
      async (bytes) => {
        const before = await rowCounts(svc.service.knex);
        const raw = await sendRaw(svc.port, bytes);
        for (const status of statusesIn(raw)) stats.record('raw bytes', status);
        if (statusesIn(raw).length === 0) stats.record('raw bytes', 0);
        for (const status of statusesIn(raw)) {
          if (status >= 500) throw new Error(`answered ${status} to ${JSON.stringify(bytes.toString('latin1'))}: ${raw.slice(0, 300)}`);
        }
        expect((await request(T, 'GET', '/healthz')).status).to.equal(200);
        // Garbage may parse as a request that succeeds (a bare GET /healthz); it never changes the database.
        if (statusesIn(raw).every((status) => status >= 400)) expect(await rowCounts(svc.service.knex)).to.deep.equal(before);
      },
      runs(60),
    );
  });
});

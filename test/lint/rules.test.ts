// The architecture rules eslint.config.js enforces, run on probe sources: the
// boundary between the deployables, contract/ depending on neither, the token
// service's layers, one assertion style in tests, and secrets never compared
// with ==/===. `npm run lint` applies them to the tree; this
// proves they bite (and would notice a later config block overriding them).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { ESLint } from 'eslint';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('lint rules (eslint.config.js)', function () {
  this.timeout(60_000);
  const eslint = new ESLint({ cwd: root });

  /** The rule ids reported for `code` as if it were the file at `file` (nothing is written). */
  async function violations(file: string, code: string): Promise<string[]> {
    const [result] = await eslint.lintText(code, { filePath: path.join(root, file) });
    return (result?.messages ?? []).map((message) => `${message.ruleId}@${message.line}`);
  }

  describe('deployable boundaries (no-restricted-imports)', () => {
    it('the gateway may not import services/**', async () => {
      const code = [
        "import { verifyAccessToken } from '../../services/token/helpers/access-tokens.ts';",
        "import type { RunningApp } from '../services/whoami/app.ts';",
        "import { IDENTITY_HEADERS } from '../../contract/identity-headers.ts';",
        "import { safeEqual } from '../../common/secrets.ts';",
        'export const used = [verifyAccessToken, IDENTITY_HEADERS, safeEqual] as const;',
        'export type Used = RunningApp;',
      ].join('\n');
      expect(await violations('gateway/pipeline/probe.ts', code)).to.deep.equal(['no-restricted-imports@1', 'no-restricted-imports@2']);
    });

    it('services/** (the token service and the demo apps) may not import the gateway', async () => {
      const code = [
        "import { readClaims } from '../../../gateway/tokens/verify-access-token.ts';",
        "import { accessTokenClaimsSchema } from '../../../contract/access-token.ts';",
        'export const used = [readClaims, accessTokenClaimsSchema];',
      ].join('\n');
      expect(await violations('services/token/helpers/probe.ts', code)).to.deep.equal(['no-restricted-imports@1']);
      expect(await violations('services/token/probe.ts', "export { admit } from '../../gateway/pipeline/admission.ts';")).to.deep.equal([
        'no-restricted-imports@1',
      ]);
      expect(
        await violations('services/whoami/probe.ts', "export { IDENTITY_HEADERS } from '../../gateway/pipeline/mutate-headers.ts';"),
      ).to.deep.equal(['no-restricted-imports@1']);
    });

    it('contract/ imports packages and its own files, nothing of either side', async () => {
      const code = [
        "import { z } from 'zod';",
        "import { IDENTITY_HEADERS } from './identity-headers.ts';",
        "import { TokenRejected } from '../gateway/tokens/verify-access-token.ts';",
        "import { toEntry } from '../services/token/models/revocations.ts';",
        "import { safeEqual } from '../common/secrets.ts';",
        'export const used = [z, IDENTITY_HEADERS, TokenRejected, toEntry, safeEqual];',
      ].join('\n');
      expect(await violations('contract/probe.ts', code)).to.deep.equal([
        'no-restricted-imports@3',
        'no-restricted-imports@4',
        'no-restricted-imports@5',
      ]);
    });
  });

  describe("the token service's layers (@typescript-eslint/no-restricted-imports)", () => {
    const rule = '@typescript-eslint/no-restricted-imports';
    const probe = (imports: string[]) =>
      [
        ...imports.map((from, i) => `import * as m${i} from '${from}';`),
        `export const used = [${imports.map((_, i) => `m${i}`).join(', ')}];`,
      ].join('\n');

    it('models/ import no grants/, actions/ or auth/', async () => {
      const code = probe(['../grants/password.ts', '../actions/login.ts', '../auth/bearer.ts', './users.ts', '../helpers/secrets.ts']);
      expect(await violations('services/token/models/probe.ts', code)).to.deep.equal([`${rule}@1`, `${rule}@2`, `${rule}@3`]);
    });

    it('grants/ and auth/ import no actions/', async () => {
      const code = probe(['../actions/login.ts', '../models/users.ts']);
      expect(await violations('services/token/grants/probe.ts', code)).to.deep.equal([`${rule}@1`]);
      expect(await violations('services/token/auth/probe.ts', code)).to.deep.equal([`${rule}@1`]);
    });

    it('helpers/ import nothing with a database and no layer above them', async () => {
      const code = probe([
        '../models/users.ts',
        '../grants/password.ts',
        '../actions/login.ts',
        '../auth/bearer.ts',
        '../../../db/connection.ts',
        './secrets.ts',
      ]);
      expect(await violations('services/token/helpers/probe.ts', code)).to.deep.equal([
        `${rule}@1`,
        `${rule}@2`,
        `${rule}@3`,
        `${rule}@4`,
        `${rule}@5`,
      ]);
    });
  });

  it('tests use chai, not node:assert (one assertion style)', async () => {
    const code = "import assert from 'node:assert/strict';\nimport { expect } from 'chai';\nexport const used = [assert, expect];";
    expect(await violations('test/gateway/probe.test.ts', code)).to.deep.equal(['no-restricted-imports@1']);
  });

  describe('secrets are compared in constant time (no-restricted-syntax)', () => {
    const code = [
      'export function check(secret: string, presented: { secret_hash: string }, hash: string, expected: string, other: string) {',
      '  const a = presented.secret_hash === hash;', // 2
      '  const b = other !== expected;', // 3
      '  const c = presented?.secret_hash == other;', // 4
      "  const fine = secret === undefined || secret.length === other.length || typeof secret === 'string' || hash === 'x' || other === null;",
      '  return [a, b, c, fine];',
      '}',
    ].join('\n');

    for (const file of ['services/token/helpers/probe.ts', 'gateway/probe.ts', 'common/probe.ts', 'contract/probe.ts']) {
      it(`forbids ==/=== on secret-like names in ${path.dirname(file)}/`, async () => {
        const lines = (await violations(file, code)).filter((found) => found.startsWith('no-restricted-syntax@'));
        expect([...new Set(lines)]).to.deep.equal(['no-restricted-syntax@2', 'no-restricted-syntax@3', 'no-restricted-syntax@4']);
      });
    }
  });
  it('the web app stores nothing in the browser and never writes data as HTML', async () => {
    const code = [
      "localStorage.setItem('token', 'x');", // 1
      "window.sessionStorage.getItem('x');", // 2
      "document.body.innerHTML = '<b>x</b>';", // 3
      "document.body.insertAdjacentHTML('beforeend', 'x');", // 4
      "document.body.textContent = '<b>fine</b>';",
    ].join('\n');
    expect((await violations('services/web/public/probe.js', code)).filter((found) => found.startsWith('no-restricted-'))).to.deep.equal([
      'no-restricted-globals@1',
      'no-restricted-properties@2',
      'no-restricted-properties@3',
      'no-restricted-properties@4',
    ]);
  });
});

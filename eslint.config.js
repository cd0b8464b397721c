import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The deployables share only contract/ (the wire contract as code) and common/.
// Checked by test/lint/rules.test.ts. A later block that sets no-restricted-imports for
// some of the same files replaces these options there: spread the pattern into it.
const boundaryPatterns = {
  gateway: { regex: '(^|/)services/', message: 'The gateway never imports services/**: share through contract/.' },
  services: { regex: '(^|/)gateway/', message: 'services/** never imports the gateway: share through contract/.' },
  // contract/ is flat: it imports its own files and packages, nothing of ours outside it.
  contract: {
    regex: '^\\.\\./',
    message: 'contract/ depends on nothing of either side (nor on common/): only its own files and packages.',
  },
};

// Secrets, hashes and passwords are compared in constant time (common/secrets.ts safeEqual),
// never with ==/===: a comparison of two names or properties where one looks like a secret.
// Comparisons with a literal, undefined or a .length are fine. (A regex, not ='undefined':
// esquery compares a missing attribute as the string "undefined".)
const OPERAND = '/^(Identifier|MemberExpression|ChainExpression)$/';
const SECRET_COMPARISON = [
  `BinaryExpression[operator=/^[!=]==?$/][left.type=${OPERAND}][right.type=${OPERAND}]`,
  ':not([left.name=/^undefined$/], [right.name=/^undefined$/])',
  ":not([left.property.name='length'], [right.property.name='length'], [left.expression.property.name='length'], [right.expression.property.name='length'])",
  ' Identifier[name=/secret|password|hash$|admintoken|expected/i]',
].join('');

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', 'coverage/**', 'dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    files: ['gateway/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [boundaryPatterns.gateway] }] },
  },
  {
    files: ['services/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [boundaryPatterns.services] }] },
  },
  {
    files: ['contract/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [boundaryPatterns.contract] }] },
  },
  {
    files: ['services/token/**/*.ts', 'gateway/**/*.ts', 'common/**/*.ts', 'contract/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: SECRET_COMPARISON,
          message: 'Compare secrets, hashes and passwords with safeEqual (common/secrets.ts), in constant time.',
        },
      ],
    },
  },
  {
    // Tests assert with chai's expect only; its property assertions (`expect(x).to.exist`)
    // are expressions by design. No other block sets no-restricted-imports for test/**.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-expressions': 'off',
      'no-restricted-imports': [
        'error',
        {
          paths: ['node:assert', 'node:assert/strict', 'assert', 'assert/strict'].map((name) => ({
            name,
            message: "tests use chai's expect (one assertion style)",
          })),
        },
      ],
    },
  },
  {
    // The demo web app's browser code: it never holds a token or anything else in browser
    // storage, and never turns data into HTML (textContent only). Checked by test/lint/rules.test.ts.
    files: ['services/web/public/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: Object.fromEntries(
        ['window', 'document', 'location', 'fetch', 'console', 'HTMLElement', 'HTMLInputElement'].map((name) => [name, 'readonly']),
      ),
    },
    rules: {
      'no-restricted-globals': [
        'error',
        ...['localStorage', 'sessionStorage', 'indexedDB', 'caches'].map((name) => ({
          name,
          message: 'The web app stores nothing in the browser.',
        })),
      ],
      'no-restricted-properties': [
        'error',
        ...['localStorage', 'sessionStorage', 'indexedDB', 'caches'].map((property) => ({
          property,
          message: 'The web app stores nothing in the browser.',
        })),
        ...['innerHTML', 'outerHTML', 'insertAdjacentHTML', 'write', 'writeln', 'createContextualFragment'].map((property) => ({
          property,
          message: 'Data goes on the page as text (textContent), never as HTML.',
        })),
      ],
    },
  },
  {
    // The token service's layers: actions -> grants -> models -> db,
    // one direction; auth/ (client and bearer authentication) sits beside grants;
    // helpers/ are pure functions. The typescript-eslint variant of the rule also
    // covers `import type`, and keeps this block from overriding another
    // config's plain no-restricted-imports on the same files.
    files: ['services/token/models/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [{ group: ['**/actions/**', '**/grants/**', '**/auth/**'], message: 'models/ sit below actions/, grants/ and auth/.' }],
        },
      ],
    },
  },
  {
    files: ['services/token/grants/**/*.ts', 'services/token/auth/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/actions/**'], message: 'grants/ and auth/ are called by actions/, never the other way round.' }] },
      ],
    },
  },
  {
    files: ['services/token/helpers/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/models/**', '**/grants/**', '**/actions/**', '**/auth/**', '**/db/**'],
              message: 'helpers/ hold pure functions: no database, no layer above them.',
            },
          ],
        },
      ],
    },
  },
);

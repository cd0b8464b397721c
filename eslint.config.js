import js from '@eslint/js';
import tseslint from 'typescript-eslint';

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
    // chai's property assertions (`expect(x).to.exist`) are expressions by design.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-unused-expressions': 'off' },
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

import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules', 'data', 'coverage', 'dist'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-console': ['error', { allow: ['error'] }],
    },
  },
  { files: ['bench/**', 'bin/**'], rules: { 'no-console': 'off' } },
  {
    // The console's pages run in the browser; `tsc -p plugins/console/web` checks their names against the DOM.
    files: ['plugins/console/web/**/*.js'],
    rules: { 'no-undef': 'off' },
  },
  {
    // The Cloudflare Worker runs on the Workers runtime, whose web globals these are.
    files: ['config/deploy/*.js'],
    languageOptions: {
      globals: { URL: 'readonly', Headers: 'readonly', fetch: 'readonly', Response: 'readonly' },
    },
  },
);

import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';
import reactHooks from 'eslint-plugin-react-hooks';
import jsxA11y from 'eslint-plugin-jsx-a11y';
import security from 'eslint-plugin-security';
import noUnsanitized from 'eslint-plugin-no-unsanitized';

export default tseslint.config(
  { ignores: ['dist', 'coverage', 'node_modules', 'test-results', 'playwright-report', 'e2e/screenshots'] },
  {
    extends: [js.configs.recommended, ...tseslint.configs.strict, security.configs.recommended, noUnsanitized.configs.recommended, jsxA11y.flatConfigs.recommended],
    files: ['**/*.{ts,tsx}'],
    languageOptions: { ecmaVersion: 2022, globals: globals.browser },
    plugins: { 'react-hooks': reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      // The DOM sinks that would turn data into code or markup.
      'no-restricted-syntax': [
        'error',
        { selector: "JSXAttribute[name.name='dangerouslySetInnerHTML']", message: 'No raw HTML: the page runs under Trusted Types.' },
        { selector: "AssignmentExpression[left.property.name=/^(innerHTML|outerHTML)$/]", message: 'No raw HTML sinks.' },
        { selector: "CallExpression[callee.property.name='insertAdjacentHTML']", message: 'No raw HTML sinks.' },
        { selector: "CallExpression[callee.object.name='document'][callee.property.name='write']", message: 'No document.write.' },
      ],
      'no-eval': 'error',
      'no-implied-eval': 'error',
      'no-new-func': 'error',
      'no-script-url': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Lookups by our own keys (table rows, aggregations) are not user-controlled paths.
      'security/detect-object-injection': 'off',
    },
  },
  {
    files: ['e2e/**/*.ts', 'scripts/**/*.mjs', 'vite.config.ts', 'eslint.config.js'],
    languageOptions: { globals: globals.node },
    rules: {
      // Build scripts and browser tests run on the developer's machine and in CI,
      // reading and writing paths they compute and starting the binary under
      // test: no user input reaches them.
      'security/detect-non-literal-fs-filename': 'off',
      'security/detect-child-process': 'off',
      // Playwright fixtures: ({}, use) => … is its documented form, and its use() is no React hook.
      'no-empty-pattern': 'off',
      'react-hooks/rules-of-hooks': 'off',
    },
  },
);

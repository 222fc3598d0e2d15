// The JupyterLab extension template's ESLint setup (typescript-eslint, @jupyter/eslint-plugin,
// Prettier as a rule) plus React's hooks rules: a hook missing a dependency is an error, because
// it reads stale state without any test noticing.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';
import prettierRecommended from 'eslint-plugin-prettier/recommended';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import jupyterPlugin from '@jupyter/eslint-plugin';

export default defineConfig([
  {
    ignores: [
      'node_modules',
      'lib',
      'coverage',
      '**/*.js',
      '**/*.d.ts',
      // Generated from docs/openapi.json by scripts/gen-contract.js (not committed).
      'src/contract.gen.ts'
    ]
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    plugins: {
      jupyter: jupyterPlugin
    }
  },
  jupyterPlugin.configs.recommended,
  {
    rules: {
      // The airlock's interface is English only; translating it is a product decision, not lint.
      'jupyter/no-untranslated-string': 'off',
      // Activation needs these at once: the sidebar panel and its review badge show at start,
      // and the cell action's command must exist before its menu item is drawn.
      'jupyter/prefer-lazy-imports': [
        'warn',
        { ignoreImports: ['./panel/AirlockPanel', './review/plugin', './notebook/cellAction'] }
      ]
    }
  },
  {
    files: ['**/*.ts', '**/*.tsx'],
    plugins: {
      'react-hooks': reactHooks
    },
    languageOptions: {
      globals: {
        ...globals.browser,
        ...globals.es2015,
        ...globals.node
      },
      parserOptions: {
        // tsconfig.test.json adds the Jest tests (src/__tests__), which the build leaves out:
        // tests are code we live in too, and a stale hook or `==` in one misleads as much.
        project: ['tsconfig.json', 'tsconfig.test.json'],
        sourceType: 'module'
      }
    },
    rules: {
      ...reactHooks.configs.recommended.rules,
      'react-hooks/exhaustive-deps': 'error',
      '@typescript-eslint/no-unused-vars': ['warn', { args: 'none' }],
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-namespace': 'off',
      '@typescript-eslint/no-use-before-define': 'off',
      curly: ['error', 'all'],
      // `x != null` is the one idiom for "null or undefined" (optional nullable API fields).
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'prefer-arrow-callback': 'error'
    }
  },
  prettierRecommended
]);

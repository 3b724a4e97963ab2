// Linting: type-aware rules (floating promises, misused promises, unused code) on top of the
// recommended sets, and the import boundary of the pure core. Formatting is Prettier's job.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

/** Node modules that do I/O (or reach the process): never imported by the pure core. */
const NODE_IO_MODULES = [
  'fs',
  'fs/promises',
  'net',
  'http',
  'https',
  'http2',
  'dns',
  'child_process',
  'cluster',
  'worker_threads',
  'dgram',
  'tls',
  'readline',
  'process',
  'os',
];

/**
 * The layers of packages/billing/src, top to bottom (README "Architecture"): an import may only go
 * down or sideways, so an arrow up fails `npm test`. Entries are top-level folders or files of src/.
 * The pure core (layer 1's core/) has its own, stricter rule below.
 */
export const LAYERS = [
  // 4. Entry points: the CLI, the server, the console, host adapters, the public faces, the composition root.
  [
    'cli',
    'demo',
    'server',
    'console',
    'adapters',
    'index',
    'express',
    'fastify',
    'web',
    'testing',
    'openfeature',
    'lazy-context',
    'context',
  ],
  // 3. Flows: what happens to a tenant (webhooks, syncs, custom plans, reconcile, management, usage, …).
  [
    'webhooks',
    'feature-sync',
    'custom-plans',
    'reconcile',
    'management',
    'usage',
    'preview',
    'explain',
    'entitlements-migration',
    'features',
  ],
  // 2. Stores, Stripe reads, caches and the HTTP error shape the flows stand on.
  [
    'tenant-store',
    'audit',
    'catalog',
    'feature-cache',
    'cache',
    'stripe-sync',
    'plan-source',
    'metadata',
    'http',
    'metrics',
    'process',
    'config',
    'feature-keys',
    'request-batcher',
    'sql-runner',
    'bounded-concurrency',
    'database-errors',
  ],
  // 1. The pure core and the plain values everything shares.
  ['core', 'types', 'errors', 'error-codes', 'identifiers'],
];

function layerBoundaries() {
  const src = 'packages/billing/src';
  // A file at depth d under src/ reaches a top-level entry as './x' (d = 0) or as d times '../'.
  return LAYERS.slice(1).flatMap((names, index) => {
    const above = [...new Set(LAYERS.slice(0, index + 1).flat())];
    return [0, 1, 2, 3].map((depth) => ({
      files: names.map((name) =>
        depth === 0 ? `${src}/${name}.ts` : `${src}/${name}/${'*/'.repeat(depth - 1)}*.ts`,
      ),
      ignores: [`${src}/core/**`],
      rules: {
        'no-restricted-imports': [
          'error',
          {
            patterns: [
              {
                regex: `^${'\\.\\./'.repeat(depth) || '\\./'}(${above.join('|')})(/|\\.js$)`,
                message: `Layers import downward only (README, Architecture): this file may not import ${above.join(', ')}.`,
              },
            ],
          },
        ],
      },
    }));
  });
}

export default defineConfig(
  {
    ignores: [
      '**/node_modules/**',
      'packages/db/src/generated/**',
      'packages/db/prisma/migrations/**',
      'coverage/**',
      '.tmp/**',
      'packages/billing/dist/**',
      'release/**',
      // The consumer apps are checked by their own tools (node, tsc, next build) in test/consumer-apps.test.ts,
      // against the installed package, which this repository's type-aware lint cannot resolve.
      'packages/*/test/fixtures/consumers/**',
    ],
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: {
        // Files outside tsconfig.json's include (tool configs) get a default program instead of an error.
        projectService: {
          allowDefaultProject: ['packages/db/prisma.config.ts', 'packages/*/scripts/*.ts'],
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    // The type-aware rules that catch real bugs here (a promise nobody awaits, an async callback
    // where a sync one is expected, awaiting a non-promise, a cast that does nothing). The
    // no-unsafe-* family is left out: the emulator and the tests read JSON bodies as `any` on purpose.
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-unnecessary-type-assertion': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    // The admin console's script runs in the browser.
    files: ['packages/billing/src/console/assets/**/*.js'],
    languageOptions: {
      globals: { document: 'readonly', window: 'readonly', navigator: 'readonly', setTimeout: 'readonly' },
    },
  },
  {
    files: ['packages/billing/src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'stripe',
              message: 'The core decides over plain values; Stripe is read by stripe-sync.',
              allowTypeImports: true,
            },
            { name: 'ioredis', message: 'The core does no I/O; caches live in cache/.' },
            {
              name: '@packages/db',
              message: 'The core does no I/O; the database is tenant-store and the services.',
            },
            ...NODE_IO_MODULES.flatMap((m) => [
              { name: m, message: 'The core does no I/O.' },
              { name: `node:${m}`, message: 'The core does no I/O.' },
            ]),
          ],
          patterns: [
            { group: ['@prisma/*'], message: 'The core does no I/O.' },
            {
              regex: '^\\.\\./(?!types\\.js$)',
              message:
                'The core imports nothing outside src/core/ (but the plain types in src/types.ts); other folders import the core.',
            },
          ],
        },
      ],
    },
  },
  {
    // One way to each table: routes (HTTP, console, adapters, OFREP) call services and stores; the
    // statements live in store modules named for what they hold (tenant-store/, audit/, webhooks/inbox…).
    files: [
      'packages/billing/src/server/*-routes.ts',
      'packages/billing/src/console/*routes.ts',
      'packages/billing/src/adapters/**/*.ts',
      'packages/billing/src/openfeature/ofrep.ts',
    ],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector:
            'MemberExpression[object.name=/^(prisma|readPrisma|read|tx)$/], MemberExpression[object.property.name=/^(prisma|readPrisma)$/][property.name!=/^(prisma|readPrisma)$/]',
          message:
            'Routes do not query the database: call a service or a store function (tenant-store/, audit/, webhooks/, management/).',
        },
      ],
    },
  },

  ...layerBoundaries(),
);

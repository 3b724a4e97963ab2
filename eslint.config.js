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
 * The layers of packages/billing/src, top to bottom (README "Architecture"), one folder each: an import
 * may only go down or sideways, so an arrow up fails `npm test`. Entries are the top-level folders and
 * files of src/: layer 4 is src/entry/ plus the package's public faces (src/*.ts, what package.json
 * exports). The pure core (src/core/) has its own, stricter rule below.
 */
export const LAYERS = [
  // 4. Entry points: the CLI, the server, the console, host adapters, OFREP, the composition root, the public faces.
  ['entry', 'index', 'express', 'fastify', 'web', 'server', 'testing', 'openfeature'],
  // 3. Flows: what happens to a tenant (webhooks, syncs, custom plans, reconcile, management, usage, …).
  ['flows'],
  // 2. Stores, Stripe reads, caches, config and the HTTP error shape the flows stand on.
  ['io'],
  // 1. The pure core and the plain values everything shares.
  ['core'],
];

function layerBoundaries() {
  const src = 'packages/billing/src';
  // A file at depth d under its layer's folder reaches src/ as d times '../'.
  return LAYERS.slice(1).flatMap(([folder], index) => {
    const above = LAYERS.slice(0, index + 1).flat();
    return [1, 2, 3, 4].map((depth) => ({
      files: [`${src}/${folder}/${'*/'.repeat(depth - 1)}*.ts`],
      ignores: [`${src}/core/**`],
      rules: {
        'no-restricted-imports': [
          'error',
          {
            patterns: [
              {
                regex: `^${'\\.\\./'.repeat(depth)}(${above.join('|')})(/|\\.js$)`,
                message: `Layers import downward only (README, Architecture): src/${folder}/ may not import ${above.join(', ')}.`,
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
    files: ['packages/billing/src/entry/console/assets/**/*.js'],
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
              regex: '^\\.\\./',
              message: 'The core imports nothing outside src/core/; the other layers import the core.',
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
      'packages/billing/src/entry/server/*-routes.ts',
      'packages/billing/src/entry/console/*routes.ts',
      'packages/billing/src/entry/adapters/**/*.ts',
      'packages/billing/src/entry/openfeature/ofrep.ts',
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

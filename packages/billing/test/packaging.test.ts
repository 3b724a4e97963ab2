import { spawn } from 'node:child_process';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { distDir, ensureBuilt, repoRoot } from './helpers/build.js';
import { finished } from './helpers/child-process.js';

/**
 * The installable package as this repository builds it (`npm run build`): every export resolves to
 * compiled JavaScript with declarations, the core loads no HTTP framework, and CommonJS can require
 * it. Installing the packed tarball into apps outside the repository is tested apart (consumer tests).
 */
const packageDir = path.join(repoRoot, 'packages/billing');
const manifest = JSON.parse(await readFile(path.join(packageDir, 'package.json'), 'utf8')) as {
  exports: Record<string, string | Record<string, string>>;
  bin: Record<string, string>;
  files: string[];
  sideEffects: boolean;
  version: string;
};
const FRAMEWORKS = [
  'fastify',
  'pino',
  'express',
  'hono',
  '@fastify/',
  'light-my-request',
  '@electric-sql/pglite',
];

let scratch: string;
beforeAll(async () => {
  await ensureBuilt();
  scratch = await mkdtemp(path.join(tmpdir(), 'billing-packaging-'));
  // Records every package an import resolves into (ESM resolution, which also sees CommonJS packages
  // imported from ESM), printed on exit.
  await writeFile(
    path.join(scratch, 'hooks.mjs'),
    `export async function resolve(specifier, context, next) {
       const result = await next(specifier, context);
       const m = /node_modules\\/((?:@[^/]+\\/)?[^/]+)/.exec(result.url);
       if (m) globalThis.port?.postMessage(m[1]);
       return result;
     }
     export function initialize(data) { globalThis.port = data.port; }`,
  );
  await writeFile(
    path.join(scratch, 'register.mjs'),
    `import { register } from 'node:module';
     import { MessageChannel } from 'node:worker_threads';
     const { port1, port2 } = new MessageChannel();
     const seen = new Set();
     port1.on('message', (name) => seen.add(name));
     port1.unref();
     register('./hooks.mjs', { parentURL: import.meta.url, data: { port: port2 }, transferList: [port2] });
     process.on('exit', () => process.stderr.write('LOADED ' + JSON.stringify([...seen]) + '\\n'));`,
  );
}, 300_000);
afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** Imports `specifier` (resolved from inside the repository) and returns the packages it loaded. */
async function packagesLoadedBy(specifier: string): Promise<string[]> {
  const result = await finished(
    spawn(
      process.execPath,
      [
        '--import',
        path.join(scratch, 'register.mjs'),
        '--input-type=module',
        '-e',
        `await import(${JSON.stringify(specifier)}); await new Promise((r) => setTimeout(r, 50));`,
      ],
      { cwd: packageDir },
    ),
  );
  expect(result.code, result.stderr).toBe(0);
  const line = result.stderr.split('\n').find((l) => l.startsWith('LOADED '));
  return JSON.parse(line!.slice('LOADED '.length)) as string[];
}

// Each test starts node processes; on a crowded machine one can take tens of seconds.
describe('the built package', { timeout: 180_000 }, () => {
  it('is one module type, declares no side effects, and ships no tests or sources', () => {
    expect(manifest.sideEffects).toBe(false);
    expect(manifest.files).toContain('dist');
    expect(manifest.files.some((f) => /src|test/.test(f) && !f.startsWith('!'))).toBe(false);
  });

  it('resolves every export to compiled JavaScript with declarations, types first', async () => {
    const subpaths = Object.keys(manifest.exports).filter((k) => k !== './package.json');
    expect(subpaths.sort()).toEqual([
      '.',
      './express',
      './fastify',
      './openfeature',
      './server',
      './testing',
      './web',
    ]);
    for (const subpath of subpaths) {
      const conditions = manifest.exports[subpath] as Record<string, string>;
      // `source` (the TypeScript, for this repository's own tests) is stripped by `npm run pack`.
      expect(Object.keys(conditions).filter((c) => c !== 'source')).toEqual(['types', 'import', 'default']);
      for (const condition of ['types', 'import', 'default']) {
        await expect(
          access(path.join(packageDir, conditions[condition]!)),
          `${subpath} ${condition}`,
        ).resolves.toBeUndefined();
      }
      expect(conditions.types).toMatch(/^\.\/dist\/.*\.d\.ts$/);
      expect(conditions.import).toMatch(/^\.\/dist\/.*\.js$/);
    }
  });

  it('names no workspace package: @packages/db and the emulator are folded into dist', async () => {
    const text = await readFile(path.join(distDir, 'index.js'), 'utf8');
    expect(text).not.toMatch(/['"]@packages\/db['"]/);
    const declarations = await readFile(path.join(distDir, 'testing.d.ts'), 'utf8');
    expect(declarations).not.toMatch(/['"]@packages\/stripe-emulator['"]/);
  });

  it('the core loads no HTTP framework (nor the embedded database) at import', async () => {
    const loaded = await packagesLoadedBy('@packages/billing');
    expect(loaded).toContain('stripe');
    for (const framework of FRAMEWORKS) expect(loaded.filter((p) => p.startsWith(framework))).toEqual([]);
  });

  it('the Express and web subpaths load no Fastify, pino or console', async () => {
    for (const subpath of ['@packages/billing/express', '@packages/billing/web']) {
      const loaded = await packagesLoadedBy(subpath);
      for (const framework of FRAMEWORKS)
        expect(
          loaded.filter((p) => p.startsWith(framework)),
          subpath,
        ).toEqual([]);
    }
    expect(await packagesLoadedBy('@packages/billing/server')).toContain('fastify');
  });

  it('only the openfeature subpath loads the optional peer @openfeature/server-sdk', async () => {
    const openfeature = await packagesLoadedBy('@packages/billing/openfeature');
    expect(openfeature).toContain('@openfeature/server-sdk');
    for (const framework of FRAMEWORKS)
      expect(openfeature.filter((p) => p.startsWith(framework))).toEqual([]);
    for (const subpath of ['@packages/billing', '@packages/billing/web', '@packages/billing/server']) {
      const loaded = await packagesLoadedBy(subpath);
      expect(
        loaded.filter((p) => p.startsWith('@openfeature/')),
        subpath,
      ).toEqual([]);
    }
  });

  it('works from CommonJS through require (Node >= 20.19 loads ESM synchronously)', async () => {
    const result = await finished(
      spawn(
        process.execPath,
        [
          '-e',
          `const billing = require('@packages/billing');
           const { createExpressAdapter } = require('@packages/billing/express');
           console.log(typeof billing.createFeatureSyncService, typeof billing.openDatabase, typeof createExpressAdapter);`,
        ],
        { cwd: packageDir },
      ),
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe('function function function');
  });
});

describe('the stripe-entitlements bin (compiled)', { timeout: 180_000 }, () => {
  const bin = path.join(packageDir, manifest.bin['stripe-entitlements']!);
  const cli = (args: string[], env: Record<string, string> = {}) =>
    finished(spawn(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH ?? '', ...env } }));
  const COMMANDS = [
    'serve',
    'worker',
    'db',
    'sync',
    'reconcile',
    'manage',
    'migrate-stripe-metadata-to-db',
    'migrate-metadata-to-entitlements',
    'generate-feature-types',
  ];

  it('ships the spec command and the one CLI as bins', () => {
    expect(Object.keys(manifest.bin).sort()).toEqual([
      'migrate-metadata-to-entitlements',
      'migrate-stripe-metadata-to-db',
      'stripe-entitlements',
    ]);
  });

  it('--help lists every command; --version prints the package version, also as JSON', async () => {
    const help = await cli(['--help']);
    expect(help.code, help.stderr).toBe(0);
    for (const command of COMMANDS) expect(help.stdout).toMatch(new RegExp(`^\\s+${command}\\b`, 'm'));
    const version = await cli(['--version']);
    expect(version.stdout.trim()).toBe(`stripe-entitlements ${manifest.version}`);
    const json = await cli(['db', '--version', '--json']);
    expect(JSON.parse(json.stdout)).toEqual({
      name: '@packages/billing',
      command: 'db',
      version: manifest.version,
    });
  });

  it('every command answers --help (exit 0) and --version without touching a database', async () => {
    const results = await Promise.all(COMMANDS.map((command) => cli([command, '--help'])));
    for (const [i, result] of results.entries()) {
      expect(result.code, `${COMMANDS[i]} --help: ${result.stderr}`).toBe(0);
      // Named as it is typed (`stripe-entitlements sync`), not as the module's own bin would be.
      expect(result.stdout, COMMANDS[i]).toMatch(
        new RegExp(`^Usage: stripe-entitlements ${COMMANDS[i]} \\[options\\]`, 'm'),
      );
    }
    const nested = await cli(['manage', 'tenants', 'list', '--help']);
    expect(nested.stdout).toMatch(/^Usage: stripe-entitlements manage tenants list \[options\]/m);
    const versions = await Promise.all(COMMANDS.map((command) => cli([command, '--version'])));
    for (const result of versions)
      expect(result.stdout.trim()).toBe(`stripe-entitlements ${manifest.version}`);
  });

  it('an unknown command, or none, is bad usage (exit 2)', async () => {
    const unknown = await cli(['reconcil']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command 'reconcil'.*\n.*reconcile/s);
    expect((await cli([])).code).toBe(2);
  });

  it('db migrate / db status need DATABASE_URL and a valid DATABASE_SCHEMA (exit 2, one line)', async () => {
    const none = await cli(['db', 'status']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^Configuration error: DATABASE_URL is not set/);
    const bad = await cli(['db', 'migrate'], {
      DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/test',
      DATABASE_SCHEMA: 'Bad-Name',
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^Configuration error: DATABASE_SCHEMA/),
    ]);
  });
});

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { dropSchema } from '@packages/db';
import { finished, watched } from './helpers/child-process.js';
import { freePort } from './helpers/ports.js';

/**
 * The package as a user gets it: `npm run pack` writes the tarballs to release/, then, in a folder
 * under the OS temp dir (outside this repository and its node_modules), a fresh app installs them
 * with `npm install <tarballs> …` and runs five apps (test/fixtures/consumers/): (a) the spec's
 * FeatureSyncService example under plain `node`, (b) CommonJS `require`, (c) its own `tsc` (NodeNext,
 * strict, skipLibCheck false) with keys typed by `npx stripe-entitlements generate-feature-types`,
 * (d) an Express app and (e) a Next.js App Router app (`next build` without secrets, `next start`),
 * each guarded route answering 403, then 200 after a signed webhook moved the plan. Stripe is the
 * emulator from @packages/billing/testing, in a process of the app's folder. The database is a fresh
 * schema per app on DATABASE_URL, else the embedded default.
 *
 * It installs Next.js and runs `next build`: minutes, not seconds. It runs when CONSUMER_TESTS=1
 * (`.ci/run` sets it for one of its two passes); the npm cache (npm's default, warmed by `npm ci`)
 * is used with --prefer-offline, and the one app folder is shared by the five apps.
 */

const enabled = process.env.CONSUMER_TESTS === '1' || process.env.CONSUMER_APP_DIR !== undefined;
const repo = fileURLToPath(new URL('../../../', import.meta.url));
const fixtures = fileURLToPath(new URL('./fixtures/consumers/', import.meta.url));
const databaseUrl = process.env.DATABASE_URL?.trim() || undefined;
const webhookSecret = 'whsec_consumer_apps';
/** CONSUMER_APP_DIR: reuse an app folder an earlier run installed (skips pack and install; kept afterwards). */
const reuseDir = process.env.CONSUMER_APP_DIR?.trim() || undefined;
const MINUTES = 60_000;

/** Timings of each step, printed at the end (the figures issue 20 asks for). */
const timings: [string, number][] = [];

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of a fresh shell: nothing from npm's script runner, Vitest or our configuration. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (
      /^(npm_|VITEST|NODE_OPTIONS$|INIT_CWD$|STRIPE_|DATABASE_|REDIS_URL$|ADMIN_|CONSOLE_|PORT$|HOST$)/.test(
        name,
      )
    )
      continue;
    env[name] = value;
  }
  return { ...env, NEXT_TELEMETRY_DISABLED: '1', ...extra };
}

async function run(
  label: string,
  command: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs: number },
): Promise<Ran> {
  const started = Date.now();
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: options.timeoutMs,
    killSignal: 'SIGKILL',
  });
  const result = await finished(child);
  timings.push([label, Date.now() - started]);
  return result;
}

/** A command that must succeed; its output is in the failure message when it does not. */
async function succeed(...args: Parameters<typeof run>): Promise<Ran> {
  const result = await run(...args);
  if (result.code !== 0)
    throw new Error(
      `${args[1]} ${args[2].join(' ')} exited ${result.code}\n--- stdout\n${result.stdout.slice(-4000)}\n--- stderr\n${result.stderr.slice(-4000)}`,
    );
  return result;
}

/** The last JSON line a process printed. */
function lastJson<T>(text: string): T {
  const line = text
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  if (!line) throw new Error(`no JSON line in:\n${text}`);
  return JSON.parse(line) as T;
}

/** A long-running child of the app folder, killed when the test file ends. */
const children: ChildProcess[] = [];
function start(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv) {
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  children.push(child);
  return watched(child);
}

function stopAll(): void {
  for (const child of children) {
    // Each was started as its own process group (detached): `next start` has children of its own.
    if (child.pid !== undefined && child.exitCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

describe.skipIf(!enabled)('consumer apps: the packed tarballs in fresh apps outside the repo', () => {
  let appDir = '';
  const schemas: string[] = [];

  /** DATABASE_URL + a fresh schema (created by `npx stripe-entitlements db migrate`), or nothing: embedded. */
  async function databaseFor(app: string): Promise<NodeJS.ProcessEnv> {
    if (!databaseUrl) return {};
    const schema = `consumer_${app}_${randomBytes(4).toString('hex')}`;
    schemas.push(schema);
    const env = { DATABASE_URL: databaseUrl, DATABASE_SCHEMA: schema };
    const migrated = await succeed(
      `${app}: npx stripe-entitlements db migrate`,
      'npx',
      ['--no', 'stripe-entitlements', 'db', 'migrate'],
      {
        cwd: appDir,
        env: cleanEnv(env),
        timeoutMs: 2 * MINUTES,
      },
    );
    expect(migrated.stdout + migrated.stderr).toMatch(/appl/i);
    return env;
  }

  /**
   * `next build` needs neither secrets nor a database, so it starts as soon as the app is installed
   * and runs while (a)–(d) do; (e) waits for it. No STRIPE_*, no DATABASE_URL: the build imports
   * every route module, which must not connect.
   */
  let nextBuild: Promise<Ran> | undefined;
  const startNextBuild = () => {
    nextBuild = run(
      '(e) next build (no secrets; beside (a)-(d))',
      'node',
      [path.join(appDir, 'node_modules/next/dist/bin/next'), 'build'],
      {
        cwd: path.join(appDir, 'web'),
        env: cleanEnv(),
        timeoutMs: 6 * MINUTES,
      },
    );
  };

  beforeAll(async () => {
    if (reuseDir) {
      // Iterating on the apps: an app folder installed by an earlier run, with the fixtures copied again.
      appDir = reuseDir;
      await cp(fixtures, appDir, { recursive: true });
      startNextBuild();
      return;
    }
    // Build + pack, exactly as the README says a user gets the package.
    await succeed('npm run pack', 'npm', ['run', '-s', 'pack'], {
      cwd: repo,
      env: cleanEnv(),
      timeoutMs: 6 * MINUTES,
    });
    const release = path.join(repo, 'release');
    const tarballs = (await readdir(release))
      .filter((f) => f.endsWith('.tgz'))
      .map((f) => path.join(release, f));
    expect(tarballs.length).toBeGreaterThan(0);
    let bytes = 0;
    for (const file of tarballs) bytes += (await stat(file)).size;
    timings.push([`tarballs: ${tarballs.length}, ${(bytes / 1024 / 1024).toFixed(1)} MiB`, 0]);

    appDir = await mkdtemp(path.join(tmpdir(), 'stripe-entitlements-consumer-'));
    await cp(fixtures, appDir, { recursive: true });
    await writeFile(
      path.join(appDir, 'package.json'),
      JSON.stringify({ name: 'consumer-app', version: '1.0.0', private: true, type: 'module' }, null, 2),
    );
    // One install for the five apps: our tarballs and what the apps themselves use.
    await succeed(
      'npm install (tarballs + stripe, express, typescript, next, react)',
      'npm',
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        ...tarballs,
        'stripe@^23',
        'express@^5',
        'typescript@^5.9',
        '@types/node@^20',
        '@types/express@^5',
        'next@^16',
        'react@^19',
        'react-dom@^19',
        '@types/react@^19',
        '@types/react-dom@^19',
      ],
      { cwd: appDir, timeoutMs: 8 * MINUTES },
    );
    startNextBuild();
  }, 15 * MINUTES);

  afterAll(async () => {
    stopAll();
    for (const schema of schemas) if (databaseUrl) await dropSchema(databaseUrl, schema).catch(() => {});
    if (appDir && !reuseDir) await rm(appDir, { recursive: true, force: true });
    console.log(
      [
        'consumer apps, step timings:',
        ...timings.map(([label, ms]) => `  ${label}${ms ? `: ${(ms / 1000).toFixed(1)} s` : ''}`),
      ].join('\n'),
    );
  }, 2 * MINUTES);

  it(
    "(a) plain Node ESM: the spec's FeatureSyncService example under `node`",
    async () => {
      const env = cleanEnv(await databaseFor('esm'));
      const ran = await succeed('(a) node feature-sync.mjs', 'node', ['feature-sync.mjs'], {
        cwd: appDir,
        env,
        timeoutMs: 2 * MINUTES,
      });
      expect(lastJson(ran.stdout)).toEqual({ success: true, changed: true, googleReviews: true, failed: [] });
    },
    4 * MINUTES,
  );

  it(
    '(b) CommonJS: require() of the package and its subpaths (not /openfeature: its optional peer is not installed)',
    async () => {
      const env = cleanEnv(await databaseFor('cjs'));
      const ran = await succeed('(b) node require.cjs', 'node', ['require.cjs'], {
        cwd: appDir,
        env,
        timeoutMs: 2 * MINUTES,
      });
      expect(lastJson(ran.stdout)).toEqual({
        keys: expect.arrayContaining(['reports.export']),
        exports: {
          createBillingContext: 'function',
          createExpressAdapter: 'function',
          createWebAdapter: 'function',
          startStripeEmulator: 'function',
        },
        // npm installs no optional peer: the app runs without it, and only this subpath asks for it.
        openfeature: 'needs @openfeature/server-sdk',
      });
    },
    4 * MINUTES,
  );

  it(
    "(c) TypeScript: the app's tsc (NodeNext, strict, skipLibCheck false) against our declarations, keys typed by generate-feature-types",
    async () => {
      const dbEnv = await databaseFor('tsc');
      const env = cleanEnv(dbEnv);
      const cli = (label: string, args: string[]) =>
        succeed(label, 'npx', ['--no', 'stripe-entitlements', ...args], {
          cwd: appDir,
          env,
          timeoutMs: 2 * MINUTES,
        });
      if (databaseUrl) {
        await cli('(c) manage features add reports.export', [
          'manage',
          'features',
          'add',
          'reports.export',
          '--type',
          'boolean',
          '--description',
          'CSV export',
        ]);
        await cli('(c) manage features add reports.rowLimit', [
          'manage',
          'features',
          'add',
          'reports.rowLimit',
          '--type',
          'number',
          '--description',
          'Rows per report',
        ]);
      } else {
        // Each CLI call would open an embedded database of its own and forget it on exit: the catalog the
        // generator reads cannot be registered beforehand, so only the declarations are checked.
        await rm(path.join(appDir, 'src', 'typos.ts'));
      }
      const generated = await cli('(c) npx stripe-entitlements generate-feature-types', [
        'generate-feature-types',
        '--out',
        'src/billing-features.d.ts',
      ]);
      expect(generated.stdout).toMatch(
        databaseUrl ? /2 feature keys|billing-features\.d\.ts/ : /billing-features\.d\.ts/,
      );
      const tsc = await run(
        '(c) tsc -p .',
        'node',
        [path.join(appDir, 'node_modules/typescript/bin/tsc'), '-p', '.'],
        {
          cwd: appDir,
          env,
          timeoutMs: 3 * MINUTES,
        },
      );
      expect(tsc.stdout + tsc.stderr).toBe('');
      expect(tsc.code).toBe(0);
    },
    8 * MINUTES,
  );

  describe('a guarded route answers 403, then 200 after a signed webhook moves the plan', () => {
    let stripe: Stripe;

    beforeAll(async () => {
      const emulator = start('node', ['emulator.mjs'], appDir, cleanEnv());
      await vi.waitFor(() => expect(emulator.output()).toContain('"url"'), { timeout: 30_000, interval: 50 });
      const { url, apiKey } = lastJson<{ url: string; apiKey: string }>(emulator.output());
      const { hostname, port } = new URL(url);
      stripe = new Stripe(apiKey, { host: hostname, port: Number(port), protocol: 'http' });
      process.env.CONSUMER_STRIPE_API_BASE = url;
    }, MINUTES);

    /** A plan without the feature and one with it; a customer on the first. */
    async function customerOnStarter(tenantId: string) {
      const starter = await stripe.products.create({
        name: 'Starter',
        metadata: { bundle: 'starter', featuresJson: '{"reports.export": false}' },
      });
      const pro = await stripe.products.create({
        name: 'Pro',
        metadata: { bundle: 'pro', features: 'reports.export' },
      });
      const price = (product: string) =>
        stripe.prices.create({
          product,
          currency: 'usd',
          unit_amount: 1000,
          recurring: { interval: 'month' },
        });
      const [starterPrice, proPrice] = [await price(starter.id), await price(pro.id)];
      const customer = await stripe.customers.create({ name: tenantId, metadata: { tenantId } });
      const subscription = await stripe.subscriptions.create({
        customer: customer.id,
        items: [{ price: starterPrice.id }],
      });
      return { customer, subscription, proPrice };
    }

    /** The latest event of this type about this subscription, signed as Stripe signs it. */
    async function signedEvent(type: string, subscriptionId: string) {
      const events = await stripe.events.list({ type, limit: 100 });
      const event = events.data.find((e) => (e.data.object as { id?: string }).id === subscriptionId);
      if (!event) throw new Error(`no ${type} event for ${subscriptionId}`);
      const payload = JSON.stringify(event);
      const signature = stripe.webhooks.generateTestHeaderString({ payload, secret: webhookSecret });
      return { payload, signature };
    }

    /** Sign-up, the first plan's webhook, 403; the upgrade's webhook, 200. */
    async function walkThePlanChange(base: string, webhookPath: string, reportsPath: string) {
      const tenantId = `consumer-${randomBytes(4).toString('hex')}`;
      const { customer, subscription, proPrice } = await customerOnStarter(tenantId);
      const post = async (route: string, body: string, headers: Record<string, string>) =>
        fetch(`${base}${route}`, {
          method: 'POST',
          body,
          headers: { 'content-type': 'application/json', ...headers },
        });
      const deliver = async (type: string) => {
        const { payload, signature } = await signedEvent(type, subscription.id);
        const answer = await post(webhookPath, payload, { 'stripe-signature': signature });
        expect({ status: answer.status, body: await answer.text() }).toMatchObject({ status: 200 });
      };
      const reports = () => fetch(`${base}${reportsPath}`, { headers: { 'x-tenant-id': tenantId } });

      expect(
        (
          await post(
            signupPath(reportsPath),
            JSON.stringify({ tenantId, name: tenantId, stripeCustomerId: customer.id }),
            {},
          )
        ).status,
      ).toBe(201);
      await deliver('customer.subscription.created');
      const refused = await reports();
      expect({ status: refused.status, body: await refused.json() }).toMatchObject({
        status: 403,
        body: { error: { code: 'feature_not_enabled', feature: 'reports.export' } },
      });

      const item = subscription.items.data[0]!;
      await stripe.subscriptions.update(subscription.id, { items: [{ id: item.id, price: proPrice.id }] });
      // A bad signature changes nothing.
      const forged = await post(webhookPath, '{"id":"evt_forged"}', { 'stripe-signature': 't=1,v1=00' });
      expect(forged.status).toBe(400);
      await deliver('customer.subscription.updated');
      const allowed = await reports();
      expect({ status: allowed.status, body: await allowed.json() }).toEqual({
        status: 200,
        body: { report: 'ready' },
      });
    }

    const signupPath = (reportsPath: string) => (reportsPath.startsWith('/api/') ? '/api/signup' : '/signup');

    function serverEnv(port: number, db: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
      return cleanEnv({
        ...db,
        PORT: String(port),
        STRIPE_SECRET_KEY: 'sk_test_emulator',
        STRIPE_API_BASE: process.env.CONSUMER_STRIPE_API_BASE,
        STRIPE_WEBHOOK_SECRET: webhookSecret,
      });
    }

    it(
      '(d) Express: requireFeature over real HTTP',
      async () => {
        const port = await freePort();
        const env = serverEnv(port, await databaseFor('express'));
        const started = Date.now();
        const app = start('node', ['express-app.mjs'], appDir, env);
        await vi.waitFor(() => expect(app.output()).toContain('"listening"'), {
          timeout: 60_000,
          interval: 50,
        });
        timings.push(['(d) express app: start until listening', Date.now() - started]);
        const walked = Date.now();
        await walkThePlanChange(`http://127.0.0.1:${port}`, '/api/stripe/webhook', '/reports');
        timings.push(['(d) express app: sign-up, two webhooks, 403 then 200', Date.now() - walked]);
      },
      3 * MINUTES,
    );

    it(
      '(e) Next.js App Router: next build without secrets, next start, a signed webhook, then 200',
      async () => {
        const web = path.join(appDir, 'web');
        const next = path.join(appDir, 'node_modules/next/dist/bin/next');
        const built = await nextBuild!;
        expect(
          built.code,
          `next build failed:\n${built.stdout.slice(-4000)}\n${built.stderr.slice(-4000)}`,
        ).toBe(0);
        const port = await freePort();
        const env = serverEnv(port, await databaseFor('next'));
        const started = Date.now();
        const server = start('node', [next, 'start', '-p', String(port), '-H', '127.0.0.1'], web, env);
        await vi.waitFor(
          async () => {
            expect(server.output()).not.toMatch(/Error:/);
            const answer = await fetch(`http://127.0.0.1:${port}/api/reports`).catch(() => null);
            expect(answer).not.toBeNull();
          },
          { timeout: 60_000, interval: 100 },
        );
        timings.push(['(e) next start: until it answers', Date.now() - started]);
        const walked = Date.now();
        await walkThePlanChange(`http://127.0.0.1:${port}`, '/api/stripe/webhook', '/api/reports');
        timings.push(['(e) next: sign-up, two webhooks, 403 then 200', Date.now() - walked]);
      },
      10 * MINUTES,
    );
  });
});

describe.runIf(!enabled)('consumer apps', () => {
  it.skip('skipped: set CONSUMER_TESTS=1 to pack the package and install it into fresh apps (minutes; .ci/run does it in one pass)', () => {});
});

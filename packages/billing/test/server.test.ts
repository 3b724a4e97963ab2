import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIsolatedDatabase, type Database } from '@packages/db';
import { createBillingContext, parseBillingEnv, stripeConfigFromBase } from '../src/entry/context.js';
import { ValidationError } from '../src/core/errors.js';
import { buildServer, type ServerDeps } from '../src/entry/server/app.js';
import type { StripeWebhookHandler } from '../src/flows/webhooks/index.js';
import { startStripeEmulator } from '@packages/stripe-emulator';
import { seedPlans } from './helpers/fixtures.js';
import { watched } from './helpers/child-process.js';

type Emulator = Awaited<ReturnType<typeof startStripeEmulator>>;

const okResult = {
  received: true as const,
  eventId: 'evt_stub',
  type: 'stub',
  action: 'stub',
  status: 'processed' as const,
  tenantId: null,
};

/** The HTTP layer alone, over a stub handler that records what reached it. */
async function stubServer(
  handle: StripeWebhookHandler['handleWebhook'],
  options: { bodyLimit?: number } = {},
) {
  const seen: { payload: Buffer | string; signature: string | undefined }[] = [];
  const webhookHandler: StripeWebhookHandler = {
    handleWebhook: async (payload, signature) => {
      seen.push({ payload, signature });
      return handle(payload, signature);
    },
  };
  const app = await buildServer({ webhookHandler } as unknown as ServerDeps, options);
  app.post('/echo', async (request) => ({ body: request.body }));
  return { app, seen };
}

describe('POST /api/stripe/webhook (HTTP layer)', () => {
  let app: FastifyInstance;
  let seen: { payload: Buffer | string; signature: string | undefined }[];
  beforeAll(async () => {
    ({ app, seen } = await stubServer(async () => okResult, { bodyLimit: 2048 }));
  });
  afterAll(async () => {
    await app.close();
  });

  it('hands the handler the exact raw bytes and the signature header', async () => {
    const body = '{\n  "id": "evt_1",\n  "weird spacing"  : true\n}';
    const res = await app.inject({
      method: 'POST',
      url: '/api/stripe/webhook',
      headers: { 'content-type': 'application/json; charset=utf-8', 'stripe-signature': 't=1,v1=abc' },
      payload: body,
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(okResult);
    const last = seen.at(-1)!;
    expect(Buffer.isBuffer(last.payload)).toBe(true);
    expect(last.payload.toString()).toBe(body);
    expect(last.signature).toBe('t=1,v1=abc');
  });

  it('other routes keep normal JSON parsing', async () => {
    const res = await app.inject({ method: 'POST', url: '/echo', payload: { a: 1 } });
    expect(res.json()).toEqual({ body: { a: 1 } });
  });

  it('answers 413 above the body limit without calling the handler', async () => {
    const before = seen.length;
    const res = await app.inject({
      method: 'POST',
      url: '/api/stripe/webhook',
      headers: { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=abc' },
      payload: JSON.stringify({ pad: 'x'.repeat(4096) }),
    });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ error: { code: 'payload_too_large' } });
    expect(seen.length).toBe(before);
  });

  it('answers 415 for a body that is not JSON', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/stripe/webhook',
      headers: { 'content-type': 'text/plain' },
      payload: 'hi',
    });
    expect(res.statusCode).toBe(415);
    expect(res.json()).toMatchObject({ error: { code: 'unsupported_media_type' } });
  });

  it('answers 500 with a generic body for unexpected errors, so Stripe retries', async () => {
    const failing = await stubServer(async () => {
      throw new Error('connection terminated: secret internals');
    });
    try {
      const res = await failing.app.inject({
        method: 'POST',
        url: '/api/stripe/webhook',
        headers: { 'content-type': 'application/json', 'stripe-signature': 't=1,v1=abc' },
        payload: '{}',
      });
      expect(res.statusCode).toBe(500);
      expect(res.json()).toEqual({ error: { code: 'internal_error', message: expect.any(String) } });
      expect(res.body).not.toContain('secret internals');
    } finally {
      await failing.app.close();
    }
  });
});

describe('createBillingContext', () => {
  it('explains missing configuration', () => {
    expect(() => parseBillingEnv({})).toThrow(ValidationError);
    expect(() => parseBillingEnv({})).toThrow(/STRIPE_SECRET_KEY is required/);
    expect(() => parseBillingEnv({ STRIPE_SECRET_KEY: 'sk_test_x' }, { requireWebhookSecret: true })).toThrow(
      /STRIPE_WEBHOOK_SECRET is required/,
    );
    expect(() => parseBillingEnv({ STRIPE_SECRET_KEY: 'sk_test_x', STRIPE_API_BASE: 'ftp://x' })).toThrow(
      /STRIPE_API_BASE/,
    );
    expect(() =>
      parseBillingEnv({ STRIPE_SECRET_KEY: 'sk_test_x', PAYMENT_GRACE_PERIOD_DAYS: 'soon' }),
    ).toThrow(/PAYMENT_GRACE_PERIOD_DAYS/);
    expect(
      parseBillingEnv({
        STRIPE_SECRET_KEY: 'sk_test_x',
        STRIPE_WEBHOOK_SECRET: ' ',
        PAYMENT_GRACE_PERIOD_DAYS: '3',
      }),
    ).toMatchObject({
      STRIPE_SECRET_KEY: 'sk_test_x',
      STRIPE_WEBHOOK_SECRET: undefined,
      PAYMENT_GRACE_PERIOD_DAYS: 3,
    });
  });

  it('turns STRIPE_API_BASE into SDK host/port/protocol', () => {
    expect(stripeConfigFromBase('http://127.0.0.1:12111')).toEqual({
      host: '127.0.0.1',
      port: 12111,
      protocol: 'http',
    });
    expect(stripeConfigFromBase('https://api.stripe.com')).toEqual({
      host: 'api.stripe.com',
      port: 443,
      protocol: 'https',
    });
    expect(stripeConfigFromBase(undefined)).toEqual({});
  });

  describe('wired against the emulator', () => {
    let emu: Emulator;
    let db: Database;
    beforeAll(async () => {
      [emu, db] = await Promise.all([startStripeEmulator({ port: 0 }), createIsolatedDatabase()]);
    });
    afterAll(async () => {
      await emu?.close();
      await db?.close();
    });

    it('builds every service, and its server processes a signed event end to end', async () => {
      const context = await createBillingContext({
        env: {
          STRIPE_SECRET_KEY: emu.apiKey,
          STRIPE_API_BASE: emu.url,
          STRIPE_WEBHOOK_SECRET: emu.webhookSecret,
        },
        database: db,
        requireWebhookSecret: true,
      });
      const app = await buildServer(context);
      try {
        await app.listen({ port: 0, host: '127.0.0.1' });
        const address = app.server.address();
        if (!address || typeof address === 'string') throw new Error('no address');
        emu.setWebhookEndpoint(`http://127.0.0.1:${address.port}/api/stripe/webhook`, { autoDeliver: false });

        const plans = await seedPlans(context.stripe);
        const customer = await context.stripe.customers.create({ metadata: { tenantId: 't_ctx' } });
        await context.prisma.tenant.create({ data: { id: 't_ctx', name: 't_ctx' } });
        const sub = await context.stripe.subscriptions.create({
          customer: customer.id,
          items: [{ price: plans.pro.price.id }],
        });
        const event = emu
          .events()
          .find(
            (e) =>
              e.type === 'customer.subscription.created' && (e.data.object as { id: string }).id === sub.id,
          )!;
        const res = await emu.deliverEvent(event.id);
        expect(res.status).toBe(200);
        expect(JSON.parse(res.body)).toMatchObject({ status: 'processed', action: 'plan_applied' });
        expect(await context.featureSync.isFeatureEnabled('t_ctx', 'advanced_analytics')).toBe(true);
        expect(context.customPlans).toBeDefined();
        expect(context.catalog.size).toBeGreaterThan(0);
      } finally {
        await app.close();
        await context.close();
      }
    });

    it('without a webhook secret the CLI-style context still works but webhooks fail closed', async () => {
      const context = await createBillingContext({
        env: { STRIPE_SECRET_KEY: emu.apiKey, STRIPE_API_BASE: emu.url },
        database: db,
      });
      try {
        await expect(context.webhookHandler.handleWebhook('{}', 't=1,v1=x')).rejects.toThrow(
          /STRIPE_WEBHOOK_SECRET/,
        );
      } finally {
        await context.close();
      }
    });
  });
});

// Each child (a server or a configuration check) has its own embedded database and emulator, so the
// tests run at the same time: much of a child's life is waiting (the emulator's latency, a shutdown).
// The two tests about the server without workers read one run of it. Assertions use the test's own
// `expect`, as concurrent tests must.
describe.concurrent('npm start (src/entry/server/main.ts)', () => {
  const mainPath = fileURLToPath(new URL('../src/entry/server/main.ts', import.meta.url));

  function startMain(env: NodeJS.ProcessEnv) {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ALLOW_EMBEDDED_DATABASE: 'true', ...env };
    // The child gets its own embedded database rather than the shared server's public schema.
    delete childEnv.DATABASE_URL;
    delete childEnv.DATABASE_SCHEMA;
    delete childEnv.REDIS_URL;
    const child = spawn(process.execPath, ['--import', 'tsx', mainPath], {
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const run = watched(child);
    return {
      ...run,
      async listening(): Promise<number> {
        // A loaded machine starts the server (tsx, embedded database) in well over a minute; the
        // tests that serve allow 180 s in all, so the start may take 150 s of them.
        const deadline = Date.now() + 150_000;
        while (Date.now() < deadline) {
          const output = run.output();
          const match = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
          if (match) return Number(match[1]);
          if (child.exitCode !== null) throw new Error(`server exited early:\n${output}`);
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`server did not start:\n${run.output()}`);
      },
    };
  }

  // Each test starts a child that loads the whole server: on a loaded machine that takes as long here
  // as in the tests that go on to serve, hence the same timeout.
  it('refuses to start without STRIPE_WEBHOOK_SECRET, naming it', async ({ expect }) => {
    const run = startMain({ STRIPE_SECRET_KEY: 'sk_test_x', STRIPE_WEBHOOK_SECRET: '', PORT: '0' });
    expect(await run.exited).toBe(1);
    expect(run.output()).toMatch(/Configuration error: .*STRIPE_WEBHOOK_SECRET is required/);
  }, 120_000);

  it('a bad variable is one line naming it, not a stack trace nor a false "webhook secret required"', async ({
    expect,
  }) => {
    const run = startMain({
      STRIPE_SECRET_KEY: 'sk_test_x',
      STRIPE_WEBHOOK_SECRET: 'whsec_x',
      PORT: 'abc',
      PAYMENT_GRACE_PERIOD_DAYS: 'abc',
    });
    expect(await run.exited).toBe(1);
    expect(run.output().trim().split('\n')).toEqual([
      'Configuration error: PAYMENT_GRACE_PERIOD_DAYS must be a whole number of days from 0 to 365 (got "abc"); ' +
        'PORT must be a whole number from 0 to 65535 (got "abc")',
    ]);
  }, 120_000);

  it('refuses the embedded database unless ALLOW_EMBEDDED_DATABASE=true, and warns loudly when allowed', async ({
    expect,
  }) => {
    const refused = startMain({
      STRIPE_SECRET_KEY: 'sk_test_x',
      STRIPE_WEBHOOK_SECRET: 'whsec_x',
      ALLOW_EMBEDDED_DATABASE: '',
    });
    expect(await refused.exited).toBe(1);
    expect(refused.output()).toMatch(
      /^Configuration error: DATABASE_URL is required: .*ALLOW_EMBEDDED_DATABASE=true/,
    );

    // Allowed: the server of the SIGTERM test below (startMain allows the embedded database), which
    // listened, warned, and exited cleanly on SIGTERM.
    const allowed = await inFlightWithoutWorker();
    expect(allowed.output).toMatch(/"level":40,.*embedded in-memory database.*LOST when this process stops/);
    expect(allowed.exit).toBe(0);
  }, 180_000);

  /** A signed event whose processing reads a customer from Stripe slowly (1.5 s), and the SIGTERM sent mid-read. */
  async function sigtermDuringProcessing(workers: string) {
    const emu = await startStripeEmulator({ port: 0 });
    const run = startMain({
      STRIPE_SECRET_KEY: emu.apiKey,
      STRIPE_API_BASE: emu.url,
      STRIPE_WEBHOOK_SECRET: emu.webhookSecret,
      PORT: '0',
      HOST: '127.0.0.1',
      WEBHOOK_WORKERS: workers,
    });
    try {
      const port = await run.listening();
      emu.setWebhookEndpoint(`http://127.0.0.1:${port}/api/stripe/webhook`, { autoDeliver: false });
      const customer = emu.emitEvent('customer.subscription.created', {
        id: 'sub_inflight',
        object: 'subscription',
        customer: 'cus_nobody',
        metadata: {},
      });
      // The tenant lookup asks Stripe for the customer: make that slow so the processing is in flight.
      emu.injectLatency(1500, { path: /\/v1\/customers\// });
      const customerReads = () =>
        Object.entries(emu.requestCounts()).reduce(
          (n, [key, count]) => (key.startsWith('GET /v1/customers/') ? n + count : n),
          0,
        );
      const before = customerReads();
      const delivery = emu.deliverEvent(customer.id);
      // SIGTERM only once the processing is under way (its Stripe read has arrived), however slow the
      // machine: up to 30 s, as the children started beside this one slow it down.
      for (let i = 0; i < 1200 && customerReads() === before; i += 1) {
        await new Promise((r) => setTimeout(r, 25));
      }
      run.child.kill('SIGTERM');
      const res = await delivery;
      expect(res.status).toBe(200);
      const exit = await run.exited;
      return { body: JSON.parse(res.body) as Record<string, unknown>, exit, output: run.output() };
    } finally {
      if (run.child.exitCode === null) run.child.kill('SIGKILL');
      await emu.close();
    }
  }

  let withoutWorker: ReturnType<typeof sigtermDuringProcessing> | undefined;
  /** One run of sigtermDuringProcessing('0'), shared by the two tests that read it. */
  const inFlightWithoutWorker = () => (withoutWorker ??= sigtermDuringProcessing('0'));

  it('on SIGTERM lets an in-flight webhook finish, then exits cleanly (no worker: processed in the request)', async ({
    expect,
  }) => {
    const { body, exit } = await inFlightWithoutWorker();
    expect(body).toMatchObject({ status: 'unknown_tenant' });
    expect(exit).toBe(0);
  }, 180_000);

  it('on SIGTERM the in-process worker finishes its claim before the database closes', async ({ expect }) => {
    const { body, exit, output } = await sigtermDuringProcessing('2');
    // Answered as soon as it was stored; the worker processed it while the server shut down.
    expect(body).toMatchObject({ status: 'queued' });
    expect(exit).toBe(0);
    expect(output).toMatch(/"status":"unknown_tenant".*"msg":"stripe event handled"/);
  }, 180_000);
});

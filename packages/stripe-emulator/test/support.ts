import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Stripe from 'stripe';
import { afterAll, beforeEach } from 'vitest';
import { startStripeEmulator, type StripeEmulator } from '../src/index.js';

export function client(
  emu: StripeEmulator,
  opts: { maxNetworkRetries?: number; apiKey?: string } = {},
): Stripe {
  const stripe = new Stripe(opts.apiKey ?? emu.apiKey, {
    ...emu.stripeClientConfig(),
    maxNetworkRetries: opts.maxNetworkRetries ?? 0,
  });
  // The SDK sleeps >= 0.5 s between retries; shrink that so retry tests stay fast.
  const internals = stripe as unknown as {
    getInitialNetworkRetryDelay: () => number;
    getMaxNetworkRetryDelay: () => number;
  };
  internals.getInitialNetworkRetryDelay = () => 0.01;
  internals.getMaxNetworkRetryDelay = () => 0.02;
  return stripe;
}

/**
 * An emulator and an SDK client for one test file, awaited at its top level
 * (`const { emu, stripe } = await useEmulator()`): closed after the file's tests and, unless
 * `resetEachTest` is false, reset before each test.
 */
export async function useEmulator(
  options: Parameters<typeof startStripeEmulator>[0] & { resetEachTest?: boolean } = {},
): Promise<{ emu: StripeEmulator; stripe: Stripe }> {
  const { resetEachTest = true, ...start } = options;
  const emu = await startStripeEmulator({ port: 0, ...start });
  afterAll(() => emu.close());
  if (resetEachTest) beforeEach(() => emu.reset());
  return { emu, stripe: client(emu) };
}

export interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A local webhook receiver whose answer per request is scripted by `respond`. */
export async function webhookReceiver(respond: (n: number, r: Received) => number = () => 200) {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(r);
      const status = respond(received.length, r);
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ received: status < 300 }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`;
  return {
    url,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Minimal Stripe-style recurring catalog entry. */
export async function makePlan(stripe: Stripe, name: string, amount: number, lookupKey?: string) {
  const product = await stripe.products.create({
    name,
    metadata: { features: `${name.toLowerCase()}_feature` },
  });
  const price = await stripe.prices.create({
    product: product.id,
    unit_amount: amount,
    currency: 'usd',
    recurring: { interval: 'month' },
    ...(lookupKey ? { lookup_key: lookupKey } : {}),
  });
  return { product, price };
}

import Stripe from 'stripe';
import { openDatabase } from '@packages/db';
import { createMemoryCache } from '../src/io/cache/index.js';
import { createFeatureReader } from '../src/io/feature-cache/index.js';
import { buildServer } from '../src/entry/server/app.js';

/**
 * Our server for the OFREP rows (BENCH_ONLY=openfeature): buildServer as `serve` builds it (its
 * hooks, error shape, token auth and the OFREP plugin), over a reader with an in-process shared
 * cache. Env: PORT, DATABASE_URL, DATABASE_SCHEMA, BENCH_TOKEN (an admin token).
 */
const db = await openDatabase({
  databaseUrl: process.env.DATABASE_URL!,
  schema: process.env.DATABASE_SCHEMA!,
});
const app = await buildServer({
  prisma: db.prisma,
  readPrisma: db.readPrisma,
  featureReader: createFeatureReader(db.readPrisma, createMemoryCache()),
  stripe: new Stripe('sk_test_unused'),
  webhookHandler: {
    handleWebhook: () => Promise.reject(new Error('no webhooks in this bench')),
  },
  auth: { tokens: [{ name: 'bench', role: 'admin', token: process.env.BENCH_TOKEN! }] },
});
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });

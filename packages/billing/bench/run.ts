import { benchLookups } from './lookups.js';
import { printTable, type BenchRow } from './stats.js';
import { benchSync } from './sync.js';
import { benchWebhooks } from './webhook.js';

/**
 * `npm run bench`: every benchmark, one table. Not a test: it asserts nothing and is not timed by CI.
 * Uses PostgreSQL/Redis when DATABASE_URL/REDIS_URL are set, embedded PGlite and memory otherwise.
 *   BENCH_TENANTS=1000,10000   tenant counts for the full-sync rows
 *   BENCH_WEBHOOK_EVENTS=2000  events for the webhook row (BENCH_WEBHOOK_CONCURRENCY=16)
 *   BENCH_ONLY=sync,webhooks,lookups
 */
const tenantCounts = (process.env.BENCH_TENANTS ?? '1000,10000').split(',').map(Number).filter((n) => n > 0);
const only = new Set((process.env.BENCH_ONLY ?? 'sync,webhooks,lookups').split(','));
const events = Number(process.env.BENCH_WEBHOOK_EVENTS ?? 2000);
const concurrency = Number(process.env.BENCH_WEBHOOK_CONCURRENCY ?? 16);

console.log(
  `node ${process.version}; database: ${process.env.DATABASE_URL ? 'PostgreSQL (DATABASE_URL)' : 'embedded PGlite'}; ` +
    `cache: ${process.env.REDIS_URL ? 'Redis (REDIS_URL)' : 'memory'}\n`,
);
const rows: BenchRow[] = [];
if (only.has('sync')) rows.push(...(await benchSync(tenantCounts)));
if (only.has('webhooks')) rows.push(...(await benchWebhooks({ events, concurrency })));
if (only.has('lookups')) rows.push(...(await benchLookups()));
printTable(rows);

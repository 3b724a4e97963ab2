import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { OpenFeature, ProviderEvents, type EventDetails } from '@openfeature/server-sdk';
import { dropSchema, openDatabase } from '@packages/db';
import { createCacheFromEnv, createMemoryCache } from '../src/io/cache/index.js';
import { createFeatureReader } from '../src/io/feature-cache/index.js';
import { addFeature, databaseCatalog, setFeatureOverride } from '../src/index.js';
import { BillingProvider } from '../src/openfeature.js';
import { startHttpProcess } from './processes.js';
import { percentile, ratio, verdict, type BenchRow } from './stats.js';

/**
 * Issue 22's OpenFeature figures (BENCH_ONLY=openfeature; needs DATABASE_URL, and REDIS_URL for the
 * change row):
 * - OFREP bulk over keep-alive HTTP at c64, load generator in this process on the same cores: our
 *   server (a child process, buildServer as `serve` builds it) vs a bare node:http child answering
 *   the same JSON and ETag from a Map. Evaluations/s count every flag of every bulk answer; per core
 *   of server CPU divides by the server process's CPU seconds (utime + stime from /proc).
 * - The same with a matching If-None-Match: the 304 rate and p99.
 * - BillingProvider in process: resolveBooleanEvaluation, and through the SDK's client.
 * - A change written through another instance's reader (Redis) to this provider's event handler.
 */
const here = path.dirname(fileURLToPath(import.meta.url));
const KEYS = [
  'sso',
  'api_access',
  'webhooks',
  'audit_log',
  'max_users',
  'max_projects',
  'api_rate_limit',
  'seats',
];
const TOKEN = 'bench-ofrep-token-0123456789abcdef';

export async function benchOpenFeature({
  tenants = 1000,
  requests = Number(process.env.BENCH_OFREP_REQUESTS ?? 20_000),
  concurrency = 64,
} = {}): Promise<BenchRow[]> {
  const url = process.env.DATABASE_URL;
  if (!url) return [{ benchmark: 'openfeature: skipped (needs DATABASE_URL)' }];
  const schema = `bench_of_${randomBytes(4).toString('hex')}`;
  const db = await openDatabase({ databaseUrl: url, schema });
  const scratch = await mkdtemp(path.join(tmpdir(), 'bench-ofrep-'));
  const rows: BenchRow[] = [];
  const stops: (() => Promise<void>)[] = [];
  try {
    for (const key of KEYS)
      await addFeature(db.prisma, {
        key,
        type: key.startsWith('max_') || key === 'api_rate_limit' || key === 'seats' ? 'number' : 'boolean',
        description: key,
      });
    const ids = Array.from({ length: tenants }, (_, i) => `of_${String(i).padStart(5, '0')}`);
    await db.pool.query(
      `INSERT INTO tenants (id, name, updated_at) SELECT id, id, now() FROM unnest($1::text[]) id`,
      [ids],
    );
    await db.pool.query(
      `INSERT INTO tenant_feature_configs (tenant_id, features, plan_features, bundle, version, updated_at)
       SELECT id, $2::jsonb, $2::jsonb, 'pro', 1, now() FROM unnest($1::text[]) id`,
      [
        ids,
        JSON.stringify({
          sso: true,
          api_access: true,
          webhooks: false,
          audit_log: true,
          max_users: 25,
          max_projects: 20,
          api_rate_limit: 600,
          seats: 10,
        }),
      ],
    );

    // --- OFREP bulk over HTTP: ours vs a bare node:http Map server ---
    const ours = await startHttpProcess(path.join(here, 'ofrep-server.ts'), {
      DATABASE_URL: url,
      DATABASE_SCHEMA: schema,
      BENCH_TOKEN: TOKEN,
    });
    stops.push(ours.kill);
    const oursUrl = `${ours.url}/ofrep/v1/evaluate/flags`;
    // Warm our caches and record each tenant's answer for the baseline.
    const answers: Record<string, { body: string; etag: string }> = {};
    const warm = await load(
      oursUrl,
      ids,
      concurrency,
      () => ({}),
      (id, res) => (answers[id] = res),
    );
    if (warm.statuses[200] !== ids.length) throw new Error(`warm-up: ${JSON.stringify(warm.statuses)}`);
    const flagsPerAnswer = Object.keys(
      (JSON.parse(answers[ids[0]!]!.body) as { flags: object }).flags,
    ).length;
    const answersFile = path.join(scratch, 'answers.json');
    await writeFile(answersFile, JSON.stringify(answers));
    const bare = await startHttpProcess(path.join(here, 'ofrep-baseline-server.ts'), {
      BASELINE_ANSWERS: answersFile,
      BENCH_TOKEN: TOKEN,
    });
    stops.push(bare.kill);
    const bareUrl = `${bare.url}/ofrep/v1/evaluate/flags`;
    const picks = Array.from({ length: requests }, (_, i) => ids[(i * 7919) % ids.length]!);

    const run = async (target: string, pid: number, etags: boolean) => {
      const cpu0 = cpuSeconds(pid);
      const headers = (id: string): Record<string, string> =>
        etags ? { 'if-none-match': answers[id]!.etag } : {};
      const result = await load(target, picks, concurrency, headers);
      return { ...result, cpu: cpuSeconds(pid) - cpu0 };
    };
    // Alternated, twice each, the better of two kept: a neighbour's burst on a shared machine hits one run, not one side.
    const best = async (etags: boolean) => {
      const a1 = await run(oursUrl, ours.child.pid!, etags);
      const b1 = await run(bareUrl, bare.child.pid!, etags);
      const a2 = await run(oursUrl, ours.child.pid!, etags);
      const b2 = await run(bareUrl, bare.child.pid!, etags);
      const pick = <T extends { wallMs: number }>(x: T, y: T) => (x.wallMs <= y.wallMs ? x : y);
      return { ours: pick(a1, a2), bare: pick(b1, b2) };
    };
    const full = await best(false);
    const rps = (r: { wallMs: number }) => requests / (r.wallMs / 1000);
    const p99 = (r: { latencies: number[] }) => percentile(r.latencies, 99);
    const oursRps = rps(full.ours);
    const bareRps = rps(full.bare);
    const httpRow = (name: string, r: typeof full.ours, extra: string) => ({
      benchmark: `ofrep bulk c${concurrency}: ${name}`,
      'wall ms': r.wallMs,
      'ops/s': Math.round(rps(r)),
      'p50 ms': percentile(r.latencies, 50),
      'p99 ms': p99(r),
      detail:
        `${Math.round(rps(r) * flagsPerAnswer)} evaluations/s (${flagsPerAnswer} flags a request, ${tenants} tenants), ` +
        `${Math.round((requests * flagsPerAnswer) / r.cpu)} evaluations/s per core of server CPU (${r.cpu.toFixed(2)} s); ` +
        `statuses ${JSON.stringify(r.statuses)}${extra}`,
    });
    rows.push(httpRow('ours', full.ours, ''));
    rows.push(httpRow('bare node:http Map server (baseline)', full.bare, ''));
    rows.push({
      benchmark: 'ofrep bulk: ours / baseline',
      vsBaseline: `${ratio(oursRps, bareRps)} throughput, ${ratio(p99(full.ours), p99(full.bare))} p99`,
      target: `${verdict(oursRps / bareRps >= 0.7, '≥ 0.7× throughput')}; ${verdict(
        p99(full.ours) <= 1.3 * p99(full.bare),
        'p99 ≤ 1.3×',
      )}`,
    });
    const cached = await best(true);
    const rate = (r: typeof full.ours) =>
      `; 304 rate ${(((r.statuses[304] ?? 0) / requests) * 100).toFixed(1)} %`;
    rows.push(httpRow('with matching If-None-Match, ours', cached.ours, rate(cached.ours)));
    rows.push(
      httpRow('with matching If-None-Match, bare node:http (baseline)', cached.bare, rate(cached.bare)),
    );
    for (const stop of stops.splice(0)) await stop();

    // --- The provider in process ---
    const localCache = createMemoryCache();
    const reader = createFeatureReader(db.readPrisma, localCache);
    const provider = new BillingProvider({ reader, catalog: databaseCatalog(db.prisma) });
    await OpenFeature.setProviderAndWait('bench', provider);
    const client = OpenFeature.getClient('bench');
    for (const id of ids) await provider.resolveBooleanEvaluation('sso', false, { targetingKey: id });
    const sequential = async (n: number, fn: (i: number) => Promise<unknown>) => {
      const lat: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await fn(i);
        lat.push(performance.now() - t0);
      }
      return lat.sort((a, b) => a - b);
    };
    const direct = await sequential(50_000, (i) =>
      provider.resolveBooleanEvaluation('sso', false, { targetingKey: ids[i % ids.length]! }),
    );
    const viaSdk = await sequential(50_000, (i) =>
      client.getBooleanValue('sso', false, { targetingKey: ids[i % ids.length]! }),
    );
    rows.push({
      benchmark: 'provider in process: resolveBooleanEvaluation (cached tenant)',
      'p50 ms': percentile(direct, 50),
      'p99 ms': percentile(direct, 99),
      target: verdict(percentile(direct, 99) <= 0.01, 'p99 ≤ 0.01 ms'),
      detail: '50,000 sequential calls over 1,000 tenants, cached in the reader',
    });
    rows.push({
      benchmark: "provider in process: through the SDK's client.getBooleanValue",
      'p50 ms': percentile(viaSdk, 50),
      'p99 ms': percentile(viaSdk, 99),
    });
    await OpenFeature.clearProviders();
    await localCache.close();

    // --- A change on another instance to this provider's handler (Redis change messages) ---
    if (process.env.REDIS_URL) {
      const namespace = `bench-of-${randomBytes(4).toString('hex')}`;
      const mine = createCacheFromEnv(process.env, { keyPrefix: `${namespace}:` });
      const theirs = createCacheFromEnv(process.env, { keyPrefix: `${namespace}:` });
      try {
        const myReader = createFeatureReader(db.readPrisma, mine, { namespace });
        const otherReader = createFeatureReader(db.prisma, theirs, { namespace });
        const listening = new BillingProvider({ reader: myReader });
        await OpenFeature.setProviderAndWait('bench-change', listening);
        const changes = OpenFeature.getClient('bench-change');
        // Subscribed once the reader has read through the bus (its subscription is asynchronous).
        await myReader.getTenantFeatures(ids[0]!);
        await new Promise((r) => setTimeout(r, 200));
        const toEvent: number[] = [];
        const writes: number[] = [];
        const afterWrite: number[] = [];
        for (let i = 0; i < 200; i++) {
          const tenantId = ids[i % ids.length]!;
          const seen = new Promise<number>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`no event for ${tenantId}`)), 5_000);
            const handler = (details?: EventDetails) => {
              if (details?.metadata?.tenantId !== tenantId) return;
              clearTimeout(timer);
              changes.removeHandler(ProviderEvents.ConfigurationChanged, handler);
              resolve(performance.now());
            };
            changes.addHandler(ProviderEvents.ConfigurationChanged, handler);
          });
          const t0 = performance.now();
          await setFeatureOverride(db.prisma, tenantId, 'max_users', 100 + i, { featureReader: otherReader });
          const written = performance.now();
          writes.push(written - t0);
          const at = await seen;
          toEvent.push(at - t0);
          afterWrite.push(Math.max(0, at - written));
        }
        for (const list of [toEvent, writes, afterWrite]) list.sort((a, b) => a - b);
        rows.push({
          benchmark: "change on another instance → this provider's handler (Redis), from the write's start",
          'p50 ms': percentile(toEvent, 50),
          'p99 ms': percentile(toEvent, 99),
          target: verdict(percentile(toEvent, 99) <= 100, 'p99 ≤ 100 ms'),
          detail:
            `200 changes; of it the write itself (override, audited, committed, published): p50 ${percentile(writes, 50).toFixed(2)} / p99 ${percentile(writes, 99).toFixed(2)} ms; ` +
            `event after the write returned: p99 ${percentile(afterWrite, 99).toFixed(2)} ms`,
        });
        await OpenFeature.clearProviders();
      } finally {
        await mine.close();
        await theirs.close();
      }
    } else {
      rows.push({ benchmark: 'change → provider handler: skipped (needs REDIS_URL)' });
    }
    return rows;
  } finally {
    for (const stop of stops) await stop().catch(() => {});
    await db.close();
    await dropSchema(url, schema).catch(() => {});
    await rm(scratch, { recursive: true, force: true });
  }
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat (clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** POSTs one OFREP bulk request per entry of `tenantIds`, keep-alive, `concurrency` in flight. */
async function load(
  url: string,
  tenantIds: string[],
  concurrency: number,
  extra: (tenantId: string) => Record<string, string>,
  onAnswer?: (tenantId: string, answer: { body: string; etag: string }) => void,
): Promise<{ latencies: number[]; wallMs: number; statuses: Record<number, number> }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const target = new URL(url);
  const latencies: number[] = [];
  const statuses: Record<number, number> = {};
  let next = 0;
  const one = (tenantId: string) =>
    new Promise<void>((resolve, reject) => {
      const body = JSON.stringify({ context: { targetingKey: tenantId } });
      const t0 = performance.now();
      const req = http.request(
        {
          agent,
          host: target.hostname,
          port: target.port,
          path: target.pathname,
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            authorization: `Bearer ${TOKEN}`,
            ...extra(tenantId),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => onAnswer && chunks.push(c));
          res.on('end', () => {
            latencies.push(performance.now() - t0);
            const status = res.statusCode ?? 0;
            statuses[status] = (statuses[status] ?? 0) + 1;
            if (onAnswer && status === 200)
              onAnswer(tenantId, {
                body: Buffer.concat(chunks).toString('utf8'),
                etag: String(res.headers.etag),
              });
            resolve();
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < tenantIds.length) await one(tenantIds[next++]!);
    }),
  );
  const wallMs = performance.now() - started;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { latencies, wallMs, statuses };
}

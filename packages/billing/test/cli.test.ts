import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import {
  EXIT_FAILED,
  EXIT_INTERRUPTED,
  EXIT_OK,
  EXIT_USAGE,
  runMigrateCli,
  type MigrateCliContext,
} from '../src/entry/cli/migrate-stripe-metadata-to-db.js';
import { createFeatureSyncService, createSyncRuns } from '../src/flows/feature-sync/index.js';
import { sqlThroughPool } from '../src/io/sql-runner.js';
import { renderBar } from '../src/entry/cli/progress.js';
import { captureStream } from './admin-helpers.js';
import { seedPlan, seedPlans, seedTenantsWithSubscriptions } from './helpers/fixtures.js';
import { useAdminTestEnv } from './helpers/use-env.js';
import { finished } from './helpers/child-process.js';
import { ensureBuilt } from './helpers/build.js';

const env = await useAdminTestEnv();
const plans = await seedPlans(env.stripe);
const tenants = await seedTenantsWithSubscriptions(env.stripe, env.prisma, 5, { plans, prefix: 'cli' });
const context: MigrateCliContext = { featureSync: env.featureSync };

async function run(
  argv: string[],
  extra: { isTTY?: boolean; signal?: AbortSignal; context?: MigrateCliContext } = {},
) {
  const stdout = captureStream();
  const stderr = captureStream();
  const code = await runMigrateCli(argv, {
    context: extra.context ?? context,
    stdout,
    stderr,
    isTTY: extra.isTTY ?? false,
    signal: extra.signal,
  });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

const configCount = () => env.prisma.tenantFeatureConfig.count();
const auditCount = () => env.prisma.featureAuditLog.count();

describe('migrate-stripe-metadata-to-db', () => {
  it('--dry-run prints per-tenant diffs and writes nothing', async () => {
    const { code, stdout } = await run(['--dry-run']);
    expect(code).toBe(EXIT_OK);
    expect(stdout).toContain('Dry run: nothing will be written.');
    for (const t of tenants) expect(stdout).toContain(`tenant ${t.tenantId} (${t.customerId})`);
    expect(stdout.match(/would update/g)?.length).toBeGreaterThanOrEqual(5);
    expect(stdout).toContain('+ api_access: true');
    expect(stdout).toMatch(/processed: 5/);
    expect(await configCount()).toBe(0);
    expect(await auditCount()).toBe(0);
  });

  it('--dry-run --json prints one JSON document and writes nothing', async () => {
    const { code, stdout } = await run(['--dry-run', '--json']);
    expect(code).toBe(EXIT_OK);
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({
      dryRun: true,
      interrupted: false,
      options: { mergeStrategy: 'merge', force: false },
    });
    expect(report.summary).toMatchObject({ processed: 5, updated: 5, failed: [] });
    const first = report.results.find((r: { tenantId: string }) => r.tenantId === tenants[0]!.tenantId);
    expect(first.diff.added).toMatchObject({ api_access: true });
    expect(await configCount()).toBe(0);
    expect(await auditCount()).toBe(0);
  });

  it('--dry-run --json-lines writes each tenant as a JSON line as it is decided, then a summary line', async () => {
    const stdout = captureStream();
    let linesWhenSyncReturned = -1;
    // The real service; the wrapper notes how much was printed before the sync returned.
    const watching: MigrateCliContext = {
      featureSync: {
        syncAllTenantsFromStripe: async (options) => {
          const outcome = await env.featureSync.syncAllTenantsFromStripe(options);
          linesWhenSyncReturned = stdout.text.split('\n').filter(Boolean).length;
          expect(outcome.results).toEqual([]);
          return outcome;
        },
      },
    };
    const code = await runMigrateCli(['--dry-run', '--json-lines'], {
      context: watching,
      stdout,
      stderr: captureStream(),
    });
    expect(code).toBe(EXIT_OK);
    const lines = stdout.text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(linesWhenSyncReturned).toBe(5);
    expect(lines).toHaveLength(6);
    expect(lines.slice(0, 5).every((l) => l.type === 'result' && l.changed === true)).toBe(true);
    const first = lines.find((l) => l.tenantId === tenants[0]!.tenantId);
    expect(first.diff.added).toMatchObject({ api_access: true });
    expect(lines[5]).toMatchObject({
      type: 'summary',
      dryRun: true,
      interrupted: false,
      summary: { processed: 5, updated: 5, failed: [] },
    });
    expect(lines[5].results).toBeUndefined();
    expect(await configCount()).toBe(0);
    expect((await run(['--json', '--json-lines'])).code).toBe(EXIT_USAGE);
  });

  it('--limit caps the customers processed', async () => {
    const { code, stdout } = await run(['--limit', '2', '--json']);
    expect(code).toBe(EXIT_OK);
    const report = JSON.parse(stdout);
    expect(report.summary).toMatchObject({ processed: 2, updated: 2 });
    expect(await configCount()).toBe(2);
    const audit = await env.prisma.featureAuditLog.findMany();
    expect(audit).toHaveLength(2);
    expect(audit.every((a) => a.source === 'cli' && a.actor === 'cli')).toBe(true);
  });

  it('--tenant-id syncs only that tenant', async () => {
    const configured = new Set((await env.prisma.tenantFeatureConfig.findMany()).map((c) => c.tenantId));
    const target = tenants.find((t) => !configured.has(t.tenantId))!;
    const { code, stdout } = await run(['--tenant-id', target.tenantId]);
    expect(code).toBe(EXIT_OK);
    expect(stdout).toMatch(/processed: 1/);
    expect(stdout).toContain(`tenant ${target.tenantId}`);
    const config = await env.prisma.tenantFeatureConfig.findUnique({ where: { tenantId: target.tenantId } });
    expect(config?.stripePriceId).toBe(target.priceId);
    expect(await configCount()).toBe(configured.size + 1);
  });

  it('a full run updates the rest; a second run finds everything unchanged', async () => {
    const first = await run(['--json']);
    expect(first.code).toBe(EXIT_OK);
    expect(await configCount()).toBe(5);
    const second = JSON.parse((await run(['--json'])).stdout);
    expect(second.summary).toMatchObject({ processed: 5, updated: 0, unchanged: 5 });
  });

  it('--force overrides a manual config that a normal run skips', async () => {
    const target = tenants[0]!;
    await env.prisma.tenantFeatureConfig.update({
      where: { tenantId: target.tenantId },
      data: { source: 'manual', features: { sso: true } },
    });
    const normal = await run(['--tenant-id', target.tenantId]);
    expect(normal.code).toBe(EXIT_OK);
    expect(normal.stdout).toMatch(/skipped: 1 \(custom_config: 1\)/);
    expect(
      (await env.prisma.tenantFeatureConfig.findUniqueOrThrow({ where: { tenantId: target.tenantId } }))
        .source,
    ).toBe('manual');

    const forced = await run(['--tenant-id', target.tenantId, '--force', '--merge-strategy', 'replace']);
    expect(forced.code).toBe(EXIT_OK);
    expect(forced.stdout).toMatch(/updated: 1/);
    const config = await env.prisma.tenantFeatureConfig.findUniqueOrThrow({
      where: { tenantId: target.tenantId },
    });
    expect(config.source).toBe('plan');
    expect(config.stripePriceId).toBe(target.priceId);
  });

  it('exit 1 when a tenant fails, with the reason in the summary', async () => {
    const broken = await seedPlan(env.stripe, 'broken', {
      name: 'Broken',
      bundle: 'broken',
      lookupKey: 'broken_monthly',
      unitAmount: 100,
      productMetadata: { bundle: 'broken', features: 'api_access,teleportation' },
      features: {},
      scrapeIntervalHours: 1,
    });
    const [bad] = await seedTenantsWithSubscriptions(env.stripe, env.prisma, 1, {
      prefix: 'cli_broken',
      priceFor: () => broken.price.id,
    });
    const { code, stdout } = await run([]);
    expect(code).toBe(EXIT_FAILED);
    expect(stdout).toMatch(/failed: 1/);
    expect(stdout).toContain(`tenant ${bad!.tenantId}`);
    expect(stdout).toContain('teleportation');
    const json = await run(['--json', '--tenant-id', bad!.tenantId]);
    expect(json.code).toBe(EXIT_FAILED);
    expect(JSON.parse(json.stdout).summary.failed[0]).toMatchObject({ tenantId: bad!.tenantId });
  });

  it.each([
    [['--limit', '0']],
    [['--limit', '-3']],
    [['--limit', 'abc']],
    [['--limit', '1.5']],
    [['--merge-strategy', 'squash']],
    [['--bogus']],
    [['extra-argument']],
    [['--tenant-id', 'x', '--limit', '2']],
    [['--tenant-id']],
  ])('bad usage %j → exit 2 without touching anything', async (argv) => {
    const createContext = vi.fn();
    const stdout = captureStream();
    const stderr = captureStream();
    const code = await runMigrateCli(argv, { createContext, stdout, stderr });
    expect(code).toBe(EXIT_USAGE);
    expect(createContext).not.toHaveBeenCalled();
    expect(stderr.text).toMatch(/error/i);
  });

  it('--help → exit 0', async () => {
    const stdout = captureStream();
    const code = await runMigrateCli(['--help'], { stdout, stderr: captureStream() });
    expect(code).toBe(EXIT_OK);
    expect(stdout.text).toContain('--dry-run');
  });

  it('missing configuration → exit 2 with the problem named', async () => {
    const stderr = captureStream();
    const code = await runMigrateCli(['--dry-run'], { env: {}, stdout: captureStream(), stderr });
    expect(code).toBe(EXIT_USAGE);
    expect(stderr.text).toContain('STRIPE_SECRET_KEY');
  });

  it('a bad Stripe key → exit 2', async () => {
    const { createStripeSyncService } = await import('../src/io/stripe-sync/index.js');
    const { createFeatureSyncService } = await import('../src/flows/feature-sync/index.js');
    const badStripe = env.newStripeClient({ apiKey: 'sk_test_wrong', maxNetworkRetries: 0 });
    const featureSync = createFeatureSyncService(
      env.prisma,
      createStripeSyncService(badStripe, { maxRetries: 0 }),
    );
    const { code, stderr } = await run([], { context: { featureSync } });
    expect(code).toBe(EXIT_USAGE);
    expect(stderr).toMatch(/Configuration error/);
    // --json-lines: the failure is one more line a line reader can parse.
    const lines = await run(['--json-lines'], { context: { featureSync } });
    expect(lines.code).toBe(EXIT_USAGE);
    expect(
      lines.stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual([
      { type: 'error', error: { code: 'stripe_authentication_failed', message: expect.any(String) } },
    ]);
  });

  it('progress: plain lines off a terminal, a redrawn bar on one', async () => {
    const plain = await run(['--dry-run', '--json']);
    expect(plain.stderr).toMatch(/progress: \d+\/\d+ \(100%\)\n/);
    expect(plain.stderr).not.toContain('\r');
    const tty = await run(['--dry-run', '--json'], { isTTY: true });
    expect(tty.stderr).toContain('\r');
    expect(tty.stderr).toContain('[');
    expect(renderBar(5, 10, 'tenant_1', 80)).toMatch(/^\[#+-+\] 5\/10\s+50% tenant_1$/);
  });

  it('Ctrl-C: stops between write batches, prints the partial summary, exit 130, nothing half-written', async () => {
    const fresh = await seedTenantsWithSubscriptions(env.stripe, env.prisma, 12, {
      plans,
      prefix: 'cli_abort',
    });
    const controller = new AbortController();
    const freshIds = new Set(fresh.map((t) => t.tenantId));
    // The real service with small batches (a batch is one statement, the unit an abort waits for);
    // the wrapper only presses "Ctrl-C" once the first new tenant has been written.
    const batched = createFeatureSyncService(env.prisma, env.stripeSync, {
      featureReader: env.featureSync.reader,
      batchSize: 2,
      concurrency: 1,
    });
    const interrupted: MigrateCliContext = {
      featureSync: {
        syncAllTenantsFromStripe: (options) =>
          batched.syncAllTenantsFromStripe({
            ...options,
            onProgress: (progress) => {
              options?.onProgress?.(progress);
              if (progress.tenantId && freshIds.has(progress.tenantId)) controller.abort();
            },
          }),
      },
    };
    const { code, stdout } = await run([], { context: interrupted, signal: controller.signal });
    expect(code).toBe(EXIT_INTERRUPTED);
    expect(stdout).toContain('Interrupted');
    const written = await env.prisma.tenantFeatureConfig.findMany({
      where: { tenantId: { in: fresh.map((t) => t.tenantId) } },
    });
    expect(written.length).toBeGreaterThan(0);
    expect(written.length).toBeLessThan(fresh.length);
    // Every tenant that was written has its audit row: each batch is one statement.
    for (const config of written) {
      expect(await env.prisma.featureAuditLog.count({ where: { tenantId: config.tenantId } })).toBe(
        config.version,
      );
    }

    const before = await run([], { signal: AbortSignal.abort() });
    expect(before.code).toBe(EXIT_INTERRUPTED);
  });
});

describe('migrate-stripe-metadata-to-db as a sync run (a context with syncRuns, as the CLI builds it)', () => {
  const runs = createSyncRuns(env.featureSync, { sql: sqlThroughPool(env.db.pool) });
  const recorded: MigrateCliContext = { featureSync: env.featureSync, syncRuns: runs };

  it('records the run (actor cli), prints its id on stderr, and reports as the bare sync does', async () => {
    const bareRun = await run(['--dry-run', '--json']);
    const bare = JSON.parse(bareRun.stdout);
    const { code, stdout, stderr } = await run(['--dry-run', '--json'], { context: recorded });
    // (An earlier test left a tenant on a broken plan: both exit 1 for it.)
    expect(code).toBe(bareRun.code);
    const [latest] = await runs.list(1);
    expect(latest).toMatchObject({
      status: 'succeeded',
      actor: 'cli',
      options: { dryRun: true, source: 'cli' },
    });
    expect(stderr).toContain(`sync run ${latest!.id}`);
    const report = JSON.parse(stdout);
    const { durationMs: _d, stripeMs: _s, ...counts } = bare.summary;
    expect(report.summary).toMatchObject(counts);
    // The same tenants (a run lists them in the order decided, the bare sync in walk order).
    const customers = (r: { results: { customerId: string }[] }) => r.results.map((x) => x.customerId).sort();
    expect(customers(report)).toEqual(customers(bare));
    expect(report.results.length).toBeGreaterThan(0);
  });

  it('a full sync while another runs (any instance): exit 1 naming that run', async () => {
    const hold = env.emu.holdRequests({ method: 'GET', path: '/v1/subscriptions' });
    try {
      const other = await runs.start({ actor: 'admin:ops', source: 'admin', dryRun: true });
      await vi.waitFor(() => expect(hold.held).toBeGreaterThan(0), { timeout: 10_000 });
      const { code, stderr } = await run(['--dry-run'], { context: recorded });
      expect(code).toBe(EXIT_FAILED);
      expect(stderr).toContain(`A full sync is already running: run ${other.runId}`);
      hold.release();
      expect((await other.finished).status).toBe('succeeded');
    } finally {
      hold.release();
    }
  });
});

describe('bin', () => {
  // The bin runs the compiled package.
  beforeAll(ensureBuilt, 300_000);
  const bin = fileURLToPath(new URL('../bin/migrate-stripe-metadata-to-db.mjs', import.meta.url));
  const exec = (args: string[], extraEnv: Record<string, string>) =>
    finished(spawn(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH ?? '', ...extraEnv } }));

  it('bad flag → exit 2', async () => {
    const result = await exec(['--limit', '0'], {});
    expect(result.code).toBe(EXIT_USAGE);
    expect(result.stderr).toContain('positive integer');
  });

  it('runs against the emulator end to end (embedded database)', { timeout: 120_000 }, async () => {
    const result = await exec(['--dry-run', '--json'], {
      STRIPE_SECRET_KEY: env.emu.apiKey,
      STRIPE_API_BASE: env.emu.url,
    });
    expect(result.code, result.stderr).toBe(EXIT_OK);
    const report = JSON.parse(result.stdout);
    // A fresh embedded database has no tenants: every Stripe customer is reported, none written.
    expect(report.summary.processed).toBeGreaterThan(0);
    expect(report.summary.skipped.no_tenant).toBe(report.summary.processed);
  });
});

import { Command, Option } from 'commander';
import { diffFeatures } from '../../core/index.js';
import {
  LISTED_SYNC_RESULTS,
  type SyncAllOptions,
  type SyncResult,
  type SyncRuns,
  type SyncSummary,
} from '../../flows/feature-sync/index.js';
import type { FeatureMap, MergeStrategy } from '../../core/types.js';
import {
  EXIT_INTERRUPTED,
  EXIT_OK,
  EXIT_USAGE,
  exitWhenDone,
  isEntryPoint,
  npmSwallowedDryRun,
  parseArguments,
  positiveInteger,
  createContextFromEnv,
  runWithContext,
  show,
  tenantIdArgument,
  processIo,
  withInterrupts,
  withIo,
  type CommandIo,
} from './common.js';
import { createProgress } from './progress.js';

export { EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE };
export const EXIT_FAILED = 1;

/** The part of the billing context this command uses. */
export interface MigrateCliContext {
  featureSync: {
    syncAllTenantsFromStripe(
      options?: SyncAllOptions,
    ): Promise<{ results: SyncResult[]; summary: SyncSummary }>;
  };
  /**
   * When present (a BillingContext's), the sync is recorded as a sync run: the admin API shows it,
   * and a full sync does not start while another runs anywhere. Without it (tests' injected
   * contexts), the sync runs bare.
   */
  syncRuns?: Pick<SyncRuns, 'start' | 'results'>;
  close?(): Promise<void>;
}

export interface MigrateCliIo extends CommandIo<MigrateCliContext> {
  /** Whether stderr is a terminal: a redrawn progress bar instead of progress lines. */
  isTTY?: boolean;
  columns?: number;
  /** Aborted on Ctrl-C: the run stops between tenants and reports what it did. */
  signal?: AbortSignal;
}

interface ParsedOptions {
  dryRun: boolean;
  force: boolean;
  tenantId?: string;
  limit?: number;
  mergeStrategy: MergeStrategy;
  json: boolean;
  jsonLines: boolean;
}

function buildProgram(io: MigrateCliIo): Command {
  return withIo(new Command('migrate-stripe-metadata-to-db'), io)
    .description(
      "Copy plan features from Stripe product/price metadata into each tenant's feature config in the database.\n" +
        'Env: STRIPE_SECRET_KEY, DATABASE_URL (embedded database when unset), STRIPE_API_BASE, REDIS_URL.',
    )
    .option('--dry-run', 'show what would change (before → after per tenant) without writing anything', false)
    .option('--force', 'also update tenants whose config is custom or otherwise protected', false)
    .addOption(
      new Option('--tenant-id <id>', 'only this tenant').argParser(tenantIdArgument).conflicts('limit'),
    )
    .addOption(new Option('--limit <n>', 'at most this many Stripe customers').argParser(positiveInteger))
    .addOption(
      new Option('--merge-strategy <strategy>', 'how plan features combine with tenant overrides')
        .choices(['merge', 'replace', 'preserve'])
        .default('merge'),
    )
    .addOption(
      new Option('--json', 'print one JSON document instead of text').default(false).conflicts('jsonLines'),
    )
    .option(
      '--json-lines',
      'print each tenant that needs a look as one JSON line as soon as it is decided, then a summary line',
      false,
    );
}

/**
 * The whole command, minus process wiring: parses `argv` (user arguments only), runs the sync and
 * returns the exit code. Tests call it in-process with an injected context.
 */
export async function runMigrateCli(argv: readonly string[], io: MigrateCliIo): Promise<number> {
  const parsed = parseArguments<ParsedOptions>(buildProgram(io), argv);
  if ('exitCode' in parsed) return parsed.exitCode;
  const { options } = parsed;
  if (io.signal?.aborted) return EXIT_INTERRUPTED;
  const swallowed = npmSwallowedDryRun(io.env ?? process.env, 'migrate-stripe-metadata-to-db');
  if (swallowed && !options.dryRun) {
    io.stderr.write(swallowed);
    return EXIT_USAGE;
  }

  return runWithContext(
    io,
    createContextFromEnv,
    { label: 'Sync failed', exitCode: EXIT_FAILED, json: options.jsonLines ? 'lines' : options.json },
    async (context) => {
      if (options.dryRun && !options.json && !options.jsonLines)
        io.stdout.write('Dry run: nothing will be written.\n');
      const progress = createProgress(io.stderr, { isTTY: io.isTTY ?? false, columns: io.columns });
      const syncOptions: SyncAllOptions = {
        dryRun: options.dryRun,
        force: options.force,
        mergeStrategy: options.mergeStrategy,
        ...(options.limit !== undefined ? { limit: options.limit } : {}),
        ...(options.tenantId !== undefined ? { tenantId: options.tenantId } : {}),
        // The service stops between tenants once this is aborted (Ctrl-C).
        ...(io.signal ? { signal: io.signal } : {}),
        actor: 'cli',
        source: 'cli',
        // Bounded however large the account: the tenants that need a look, the rest counted; with
        // --json-lines none at all, each is written out as it comes.
        keepResults: options.jsonLines ? false : LISTED_SYNC_RESULTS,
        ...(options.jsonLines
          ? { onResult: (result, replaces) => io.stdout.write(resultLine(result, replaces)) }
          : {}),
        onProgress: ({ done, total, tenantId }) => progress.update(done, total, tenantId),
      };
      let outcome: { results: SyncResult[]; summary: SyncSummary };
      try {
        outcome = context.syncRuns
          ? await syncAsRun(context.syncRuns, syncOptions, io)
          : await context.featureSync.syncAllTenantsFromStripe(syncOptions);
      } finally {
        progress.finish();
      }
      const interrupted = io.signal?.aborted ?? false;
      if (options.jsonLines) {
        const { results: _none, ...last } = jsonReport(options, outcome, interrupted);
        io.stdout.write(`${JSON.stringify({ type: 'summary', ...last })}\n`);
      } else if (options.json) {
        io.stdout.write(`${JSON.stringify(jsonReport(options, outcome, interrupted), null, 2)}\n`);
      } else {
        io.stdout.write(textReport(options, outcome, interrupted));
      }
      if (interrupted) return EXIT_INTERRUPTED;
      // Both CLIs: a tenant asked for by --tenant-id that does not exist is a failure (a typo must
      // not look like success), reported as tenant_not_found.
      if (options.tenantId !== undefined && outcome.summary.skipped.tenant_not_found) return EXIT_FAILED;
      return outcome.summary.failed.length > 0 ? EXIT_FAILED : EXIT_OK;
    },
  );
}

/**
 * The sync as a recorded run: the same options and callbacks, the same outcome (the run's first
 * LISTED_SYNC_RESULTS results read back from its pages, unless --json-lines kept none).
 */
async function syncAsRun(
  runs: Pick<SyncRuns, 'start' | 'results'>,
  sync: SyncAllOptions,
  io: MigrateCliIo,
): Promise<{ results: SyncResult[]; summary: SyncSummary }> {
  const { keepResults, actor = 'cli', source = 'cli', ...options } = sync;
  const { runId, finished } = await runs.start({ ...options, actor, source });
  io.stderr.write(`sync run ${runId} (GET /api/admin/sync/runs/${runId})\n`);
  const outcome = await finished;
  if (outcome.status === 'failed') throw outcome.error;
  if (outcome.status === 'abandoned' || !outcome.summary)
    throw new Error(`sync run ${runId} was taken over by another instance (its heartbeat went stale)`);
  if (keepResults === false) return { results: [], summary: outcome.summary };
  const page = await runs.results(runId, { limit: LISTED_SYNC_RESULTS });
  const results = page.results.map(({ seq: _seq, ...result }) => result);
  const resultsOmitted = Math.max(0, outcome.summary.processed - results.length);
  return { results, summary: { ...outcome.summary, resultsOmitted } };
}

type Diff = {
  added: Record<string, unknown>;
  removed: Record<string, unknown>;
  changed: Record<string, { from: unknown; to: unknown }>;
};

function featureDiff(before: FeatureMap | null | undefined, after: FeatureMap | null | undefined): Diff {
  const b = before ?? {};
  const a = after ?? {};
  const d = diffFeatures(b, a);
  return {
    added: Object.fromEntries(d.added.map((k) => [k, a[k]])),
    removed: Object.fromEntries(d.removed.map((k) => [k, b[k]])),
    changed: Object.fromEntries(d.changed.map((k) => [k, { from: b[k], to: a[k] }])),
  };
}

/**
 * --json-lines: one tenant that needs a look (changed, skipped, failed; not up to date), with its
 * diff when it changes; `replaces: true` when it replaces the same customer's earlier line (its
 * subscriptions span Stripe pages), and an up-to-date result is written then too, so the earlier
 * line can be taken back.
 */
function resultLine(result: SyncResult, replaces: boolean): string {
  if (result.reason === 'up_to_date' && !replaces) return '';
  return `${JSON.stringify({
    type: 'result',
    ...result,
    ...(result.changed ? { diff: featureDiff(result.before, result.after) } : {}),
    ...(replaces ? { replaces: true } : {}),
  })}\n`;
}

function jsonReport(
  options: ParsedOptions,
  outcome: { results: SyncResult[]; summary: SyncSummary },
  interrupted: boolean,
) {
  return {
    dryRun: options.dryRun,
    interrupted,
    options: {
      force: options.force,
      mergeStrategy: options.mergeStrategy,
      limit: options.limit ?? null,
      tenantId: options.tenantId ?? null,
    },
    summary: outcome.summary,
    results: outcome.results.map((r) => ({
      ...r,
      ...(r.changed ? { diff: featureDiff(r.before, r.after) } : {}),
    })),
  };
}

function textReport(
  options: ParsedOptions,
  outcome: { results: SyncResult[]; summary: SyncSummary },
  interrupted: boolean,
): string {
  const lines: string[] = [];
  const verb = options.dryRun ? 'would update' : 'updated';
  for (const result of outcome.results) {
    if (!result.changed) continue;
    lines.push(
      `tenant ${result.tenantId ?? '?'} (${result.customerId || 'no customer'}) plan ${result.planId ?? '?'}: ${verb}`,
    );
    const diff = featureDiff(result.before, result.after);
    for (const [key, change] of Object.entries(diff.changed))
      lines.push(`  ${key}: ${show(change.from)} → ${show(change.to)}`);
    for (const [key, value] of Object.entries(diff.added)) lines.push(`  + ${key}: ${show(value)}`);
    for (const [key, value] of Object.entries(diff.removed)) lines.push(`  - ${key}: ${show(value)}`);
    if (
      Object.keys(diff.changed).length + Object.keys(diff.added).length + Object.keys(diff.removed).length ===
      0
    ) {
      lines.push('  (features unchanged; plan, source or Stripe ids change)');
    }
  }
  const s = outcome.summary;
  if (s.resultsOmitted) {
    const listed = outcome.results.length;
    const beyond = s.processed - s.unchanged - listed;
    if (beyond > 0)
      lines.push(
        `… and ${beyond} more tenants to look at, not listed (the first ${listed} are; see the summary)`,
      );
  }
  if (lines.length > 0) lines.push('');
  if (interrupted) lines.push('Interrupted: the summary covers only the tenants processed before Ctrl-C.');
  lines.push(`Summary${options.dryRun ? ' (dry run, nothing written)' : ''}`);
  lines.push(`  processed: ${s.processed}`);
  lines.push(`  ${options.dryRun ? 'would update' : 'updated'}: ${s.updated}`);
  lines.push(`  unchanged: ${s.unchanged}`);
  const skipped = Object.entries(s.skipped).sort(([a], [b]) => (a < b ? -1 : 1));
  const skippedTotal = skipped.reduce((n, [, count]) => n + count, 0);
  lines.push(
    `  skipped: ${skippedTotal}${skipped.length > 0 ? ` (${skipped.map(([reason, n]) => `${reason}: ${n}`).join(', ')})` : ''}`,
  );
  lines.push(`  failed: ${s.failed.length}`);
  for (const failure of s.failed)
    lines.push(
      `    - tenant ${failure.tenantId ?? '?'} (${failure.customerId || 'no customer'}): ${failure.error}`,
    );
  lines.push(`  stripe requests: ${s.stripeRequests}, duration: ${s.durationMs} ms`);
  return `${lines.join('\n')}\n`;
}

/**
 * Process wiring: Ctrl-C once stops between tenants and prints the partial summary; a second
 * Ctrl-C exits at once (tenants are written in batches, each all-or-nothing, so nothing
 * half-written is left behind).
 */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  return withInterrupts((signal) => runMigrateCli(argv, processIo(signal)));
}

export async function runAsProcess(): Promise<void> {
  exitWhenDone(await main());
}

// `tsx src/entry/cli/migrate-stripe-metadata-to-db.ts` runs the command; importing the module (tests, the bin) does not.
if (isEntryPoint(import.meta.url)) await runAsProcess();

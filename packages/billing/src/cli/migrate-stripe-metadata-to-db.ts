import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { BillingError, StripeAuthenticationError, ValidationError } from '../errors.js';
import { diffFeatures } from '../features/merge.js';
import type { SyncAllOptions, SyncResult, SyncSummary } from '../feature-sync/index.js';
import type { FeatureMap, MergeStrategy } from '../types.js';
import { createProgress, type ProgressWriter } from './progress.js';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
/** 128 + SIGINT, what shells report for a command stopped with Ctrl-C. */
export const EXIT_INTERRUPTED = 130;

/** The part of the billing context this command uses. */
export interface MigrateCliContext {
  featureSync: {
    syncAllTenantsFromStripe(options?: SyncAllOptions): Promise<{ results: SyncResult[]; summary: SyncSummary }>;
  };
  close?(): Promise<void>;
}

export interface MigrateCliIo {
  /** Used as is and left open (the caller owns it); otherwise one is created from `env` and closed. */
  context?: MigrateCliContext;
  createContext?: (env: NodeJS.ProcessEnv) => Promise<MigrateCliContext>;
  env?: NodeJS.ProcessEnv;
  stdout: ProgressWriter;
  stderr: ProgressWriter;
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
}

function positiveInteger(value: string): number {
  if (!/^[0-9]+$/.test(value.trim())) throw new InvalidArgumentError('must be a positive integer.');
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer.');
  return n;
}

function nonEmpty(value: string): string {
  const trimmed = value.trim();
  if (trimmed === '' || trimmed.length > 255) throw new InvalidArgumentError('must be a tenant id (1-255 characters).');
  return trimmed;
}

function buildProgram(io: MigrateCliIo): Command {
  return new Command('migrate-stripe-metadata-to-db')
    .description(
      'Copy plan features from Stripe product/price metadata into each tenant\'s feature config in the database.\n' +
        'Env: STRIPE_SECRET_KEY, DATABASE_URL (embedded database when unset), STRIPE_API_BASE, REDIS_URL.',
    )
    .option('--dry-run', 'show what would change (before → after per tenant) without writing anything', false)
    .option('--force', 'also update tenants whose config is custom or otherwise protected', false)
    .addOption(new Option('--tenant-id <id>', 'only this tenant').argParser(nonEmpty).conflicts('limit'))
    .addOption(new Option('--limit <n>', 'at most this many Stripe customers').argParser(positiveInteger))
    .addOption(
      new Option('--merge-strategy <strategy>', 'how plan features combine with tenant overrides')
        .choices(['merge', 'replace', 'preserve'])
        .default('merge'),
    )
    .option('--json', 'print one JSON document instead of text', false)
    .helpOption('-h, --help', 'show this help')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => void io.stdout.write(text),
      writeErr: (text) => void io.stderr.write(text),
    });
}

/**
 * The whole command, minus process wiring: parses `argv` (user arguments only), runs the sync and
 * returns the exit code. Tests call it in-process with an injected context.
 */
export async function runMigrateCli(argv: readonly string[], io: MigrateCliIo): Promise<number> {
  const program = buildProgram(io);
  let options: ParsedOptions;
  try {
    program.parse([...argv], { from: 'user' });
    options = program.opts<ParsedOptions>();
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.code === 'commander.helpDisplayed' || error.code === 'commander.version' ? EXIT_OK : EXIT_USAGE;
    }
    throw error;
  }
  if (io.signal?.aborted) return EXIT_INTERRUPTED;

  let context = io.context;
  let owned = false;
  if (!context) {
    try {
      context = await (io.createContext ?? defaultCreateContext)(io.env ?? process.env);
      owned = true;
    } catch (error) {
      io.stderr.write(`Configuration error: ${messageOf(error)}\n`);
      return EXIT_USAGE;
    }
  }

  const progress = createProgress(io.stderr, { isTTY: io.isTTY ?? false, columns: io.columns });
  try {
    if (options.dryRun && !options.json) io.stdout.write('Dry run: nothing will be written.\n');
    // `signal` is passed for the service to stop between tenants; see the README of this command.
    const syncOptions: SyncAllOptions & { signal?: AbortSignal } = {
      dryRun: options.dryRun,
      force: options.force,
      mergeStrategy: options.mergeStrategy,
      ...(options.limit !== undefined ? { limit: options.limit } : {}),
      ...(options.tenantId !== undefined ? { tenantId: options.tenantId } : {}),
      ...(io.signal ? { signal: io.signal } : {}),
      actor: 'cli',
      source: 'cli',
      onProgress: ({ done, total, tenantId }) => progress.update(done, total, tenantId),
    };
    let outcome: { results: SyncResult[]; summary: SyncSummary };
    try {
      outcome = await context.featureSync.syncAllTenantsFromStripe(syncOptions);
    } finally {
      progress.finish();
    }
    const interrupted = io.signal?.aborted ?? false;
    if (options.json) {
      io.stdout.write(`${JSON.stringify(jsonReport(options, outcome, interrupted), null, 2)}\n`);
    } else {
      io.stdout.write(textReport(options, outcome, interrupted));
    }
    if (interrupted) return EXIT_INTERRUPTED;
    return outcome.summary.failed.length > 0 ? EXIT_FAILED : EXIT_OK;
  } catch (error) {
    const configProblem = error instanceof StripeAuthenticationError || error instanceof ValidationError;
    if (options.json) {
      const code = error instanceof BillingError ? error.code : 'internal_error';
      io.stdout.write(`${JSON.stringify({ error: { code, message: messageOf(error) } }, null, 2)}\n`);
    }
    io.stderr.write(`${configProblem ? 'Configuration error' : 'Sync failed'}: ${messageOf(error)}\n`);
    return configProblem ? EXIT_USAGE : EXIT_FAILED;
  } finally {
    if (owned) await context.close?.().catch(() => {});
  }
}

async function defaultCreateContext(env: NodeJS.ProcessEnv): Promise<MigrateCliContext> {
  const { createBillingContext } = await import('../context.js');
  return createBillingContext({ env });
}

type Diff = { added: Record<string, unknown>; removed: Record<string, unknown>; changed: Record<string, { from: unknown; to: unknown }> };

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

function jsonReport(options: ParsedOptions, outcome: { results: SyncResult[]; summary: SyncSummary }, interrupted: boolean) {
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

function textReport(options: ParsedOptions, outcome: { results: SyncResult[]; summary: SyncSummary }, interrupted: boolean): string {
  const lines: string[] = [];
  const verb = options.dryRun ? 'would update' : 'updated';
  for (const result of outcome.results) {
    if (!result.changed) continue;
    lines.push(`tenant ${result.tenantId ?? '?'} (${result.customerId || 'no customer'}) plan ${result.planId ?? '?'}: ${verb}`);
    const diff = featureDiff(result.before, result.after);
    for (const [key, change] of Object.entries(diff.changed)) lines.push(`  ${key}: ${show(change.from)} → ${show(change.to)}`);
    for (const [key, value] of Object.entries(diff.added)) lines.push(`  + ${key}: ${show(value)}`);
    for (const [key, value] of Object.entries(diff.removed)) lines.push(`  - ${key}: ${show(value)}`);
    if (Object.keys(diff.changed).length + Object.keys(diff.added).length + Object.keys(diff.removed).length === 0) {
      lines.push('  (features unchanged; plan, source or Stripe ids change)');
    }
  }
  const s = outcome.summary;
  if (lines.length > 0) lines.push('');
  if (interrupted) lines.push('Interrupted: the summary covers only the tenants processed before Ctrl-C.');
  lines.push(`Summary${options.dryRun ? ' (dry run, nothing written)' : ''}`);
  lines.push(`  processed: ${s.processed}`);
  lines.push(`  ${options.dryRun ? 'would update' : 'updated'}: ${s.updated}`);
  lines.push(`  unchanged: ${s.unchanged}`);
  const skipped = Object.entries(s.skipped).sort(([a], [b]) => (a < b ? -1 : 1));
  const skippedTotal = skipped.reduce((n, [, count]) => n + count, 0);
  lines.push(`  skipped: ${skippedTotal}${skipped.length > 0 ? ` (${skipped.map(([reason, n]) => `${reason}: ${n}`).join(', ')})` : ''}`);
  lines.push(`  failed: ${s.failed.length}`);
  for (const failure of s.failed) lines.push(`    - tenant ${failure.tenantId ?? '?'} (${failure.customerId || 'no customer'}): ${failure.error}`);
  lines.push(`  stripe requests: ${s.stripeRequests}, duration: ${s.durationMs} ms`);
  return `${lines.join('\n')}\n`;
}

function show(value: unknown): string {
  return value === undefined ? '(none)' : JSON.stringify(value);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Process wiring: Ctrl-C once stops between tenants and prints the partial summary; a second
 * Ctrl-C exits at once (each tenant is written in its own transaction, so nothing half-written
 * is left behind).
 */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts += 1;
    if (interrupts > 1) process.exit(EXIT_INTERRUPTED);
    process.stderr.write('\nStopping after the tenants in progress… (Ctrl-C again to quit immediately)\n');
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    return await runMigrateCli(argv, {
      stdout: process.stdout,
      stderr: process.stderr,
      isTTY: process.stderr.isTTY === true,
      columns: process.stderr.columns,
      env: process.env,
      signal: controller.signal,
    });
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** Sets the exit code and makes sure a stray open handle cannot keep the process alive forever. */
export async function runAsProcess(): Promise<void> {
  const code = await main();
  process.exitCode = code;
  setTimeout(() => process.exit(code), 5_000).unref();
}

function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

// `tsx src/cli/migrate-stripe-metadata-to-db.ts` runs the command; importing the module (tests, the bin) does not.
if (isEntryPoint()) await runAsProcess();

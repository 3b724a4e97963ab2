import { Command, Option } from 'commander';
import {
  EXIT_INTERRUPTED,
  EXIT_OK,
  EXIT_USAGE,
  exitWhenDone,
  isEntryPoint,
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
import {
  LISTED_RECONCILE_RESULTS,
  reconcileTenants,
  type ReconcileDeps,
  type ReconcileResult,
  type TenantDrift,
} from '../../flows/reconcile/index.js';
import { databaseCatalog } from '../../io/catalog/registry.js';
import { listOverLimits, type OverLimitEntry } from '../../flows/features/over-limit.js';

export { EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE };
/** Drift left over (check only, or a fix that failed) or tenants that could not be checked. */
export const EXIT_DRIFT = 1;

/** The part of the billing context the command needs (a BillingContext fits). */
export interface ReconcileCliContext extends ReconcileDeps {
  env?: { PAYMENT_GRACE_PERIOD_DAYS?: number };
  close?(): Promise<void>;
}

export interface ReconcileCliIo extends CommandIo<ReconcileCliContext> {
  /** Whether stderr is a terminal: a redrawn progress bar instead of progress lines. */
  isTTY?: boolean;
  columns?: number;
  /** Aborted on Ctrl-C: the run stops between tenants and reports what it did. */
  signal?: AbortSignal;
}

interface ParsedOptions {
  fix: boolean;
  tenantId?: string;
  limit?: number;
  json: boolean;
  jsonLines: boolean;
}

function buildProgram(io: ReconcileCliIo): Command {
  return withIo(new Command('reconcile'), io)
    .description(
      "Compare every tenant's stored features with what Stripe implies now; with --fix, correct the drift (audited).\n" +
        'Exit: 0 no drift (or all fixed), 1 drift left or failures (an unknown --tenant-id included), 2 bad usage or configuration, 130 Ctrl-C.\n' +
        'Env: STRIPE_SECRET_KEY, DATABASE_URL (embedded database when unset), STRIPE_API_BASE, REDIS_URL, PAYMENT_GRACE_PERIOD_DAYS.',
    )
    .option(
      '--fix',
      'write the expected state for drifting tenants (audit source "sync", action "reconcile")',
      false,
    )
    .addOption(
      new Option('--tenant-id <id>', 'only this tenant').argParser(tenantIdArgument).conflicts('limit'),
    )
    .addOption(new Option('--limit <n>', 'at most this many Stripe customers').argParser(positiveInteger))
    .addOption(new Option('--json', 'print one JSON document instead of text').default(false))
    .addOption(
      new Option(
        '--json-lines',
        'print each tenant that drifts, fails or is skipped as one JSON line as it is found, then a summary line',
      )
        .default(false)
        .conflicts('json'),
    );
}

/** The command minus process wiring: parses user arguments, reconciles, reports, returns the exit code. */
export async function runReconcileCli(argv: readonly string[], io: ReconcileCliIo): Promise<number> {
  const parsed = parseArguments<ParsedOptions>(buildProgram(io), argv);
  if ('exitCode' in parsed) return parsed.exitCode;
  const { options } = parsed;
  if (io.signal?.aborted) return EXIT_INTERRUPTED;
  return runWithContext(
    io,
    createContextFromEnv,
    { label: 'Reconcile failed', exitCode: EXIT_DRIFT, json: options.jsonLines ? 'lines' : options.json },
    async (context) => {
      const progress = createProgress(io.stderr, { isTTY: io.isTTY ?? false, columns: io.columns });
      const line = (value: unknown) => io.stdout.write(`${JSON.stringify(value)}\n`);
      // One bar over the tenants checked; fixes run between checks and show in its label.
      const checked = { done: 0, total: 0 };
      let result: ReconcileResult;
      try {
        result = await reconcileTenants(context, {
          fix: options.fix,
          actor: 'cli',
          // Bounded however large the account: the first drifts, failures and skips, the rest counted.
          keepResults: LISTED_RECONCILE_RESULTS,
          ...(io.signal ? { signal: io.signal } : {}),
          onProgress: (p) => {
            if (p.phase === 'check') Object.assign(checked, { done: p.done, total: p.total });
            progress.update(checked.done, checked.total, `${p.phase} ${p.tenantId ?? ''}`.trim());
          },
          ...(options.jsonLines
            ? {
                // In-sync tenants are not listed, unless the verdict withdraws an earlier line's.
                onResult: (v) => (v.status !== 'in_sync' || v.replaces) && line({ type: 'verdict', ...v }),
              }
            : {}),
          ...(options.tenantId !== undefined ? { tenantId: options.tenantId } : {}),
          ...(options.limit !== undefined ? { limit: options.limit } : {}),
          ...(context.env?.PAYMENT_GRACE_PERIOD_DAYS !== undefined
            ? { gracePeriodDays: context.env.PAYMENT_GRACE_PERIOD_DAYS }
            : {}),
        });
      } finally {
        progress.finish();
      }
      const code = result.interrupted ? EXIT_INTERRUPTED : exitCodeOf(result);
      // Informational: usage above a lowered limit is the catalog policy's business, not drift.
      const overLimits = await listOverLimits(context.prisma, databaseCatalog(context.prisma), {
        ...(options.tenantId !== undefined ? { tenantId: options.tenantId } : {}),
      });
      const optionsReport = {
        fix: options.fix,
        tenantId: options.tenantId ?? null,
        limit: options.limit ?? null,
      };
      if (options.json)
        io.stdout.write(
          `${JSON.stringify({ options: optionsReport, exitCode: code, ...result, overLimits }, null, 2)}\n`,
        );
      else if (options.jsonLines) {
        for (const entry of overLimits) line({ type: 'over_limit', ...entry });
        const { drift: _d, failed, skipped: _s, omitted: _o, ...counts } = result;
        line({
          type: 'summary',
          options: optionsReport,
          exitCode: code,
          ...counts,
          failed: failed.length + (result.omitted?.failed ?? 0),
        });
      } else io.stdout.write(textReport(options, result) + overLimitLines(overLimits));
      return code;
    },
  );
}

function overLimitLines(entries: OverLimitEntry[]): string {
  return entries
    .map(
      (e) =>
        `over limit: tenant ${e.tenantId} ${e.key} ${e.used} used of ${e.limit} (${e.policy ?? 'block_new'}${e.since ? `, since ${e.since.toISOString()}` : ''})\n`,
    )
    .join('');
}

export function exitCodeOf(result: ReconcileResult): number {
  const failed = result.failed.length + (result.omitted?.failed ?? 0);
  return failed > 0 || result.driftLeft > 0 ? EXIT_DRIFT : EXIT_OK;
}

function driftLines(d: TenantDrift, fixing: boolean): string[] {
  const lines = [
    `drift: tenant ${d.tenantId} (${d.customerId ?? 'no customer'})${d.actual === null ? ' has no config' : ''}`,
  ];
  const before = d.actual?.features ?? {};
  const after = d.expected.features;
  for (const key of d.diff.changed) lines.push(`  ${key}: ${show(before[key])} → ${show(after[key])}`);
  for (const key of d.diff.added) lines.push(`  + ${key}: ${show(after[key])}`);
  for (const key of d.diff.removed) lines.push(`  - ${key}: ${show(before[key])}`);
  for (const field of d.diff.fields)
    lines.push(`  ${field}: ${show(d.actual?.[field])} → ${show(d.expected[field])}`);
  if (fixing) lines.push(`  fix: ${d.fix ?? 'not attempted'}`);
  return lines;
}

function textReport(options: ParsedOptions, r: ReconcileResult): string {
  const lines = r.drift.flatMap((d) => driftLines(d, options.fix));
  const omitted = r.omitted ?? { drift: 0, failed: 0, skipped: 0 };
  if (omitted.drift > 0)
    lines.push(`… and ${omitted.drift} more drifting tenants, not listed (the first ${r.drift.length} are)`);
  if (lines.length > 0) lines.push('');
  if (r.interrupted) lines.push('Interrupted: the summary covers only the tenants handled before Ctrl-C.');
  const skipped = Object.entries(r.skippedByReason).sort(([a], [b]) => (a < b ? -1 : 1));
  const skippedTotal = skipped.reduce((n, [, count]) => n + count, 0);
  lines.push(`Summary${options.fix ? '' : ' (check only; --fix to correct)'}`);
  lines.push(`  checked: ${r.checked}`);
  lines.push(`  in sync: ${r.inSync}`);
  lines.push(`  drift: ${r.drifting}`);
  if (options.fix) lines.push(`  fixed: ${r.fixed}`);
  lines.push(
    `  skipped: ${skippedTotal}${skipped.length > 0 ? ` (${skipped.map(([k, n]) => `${k}: ${n}`).join(', ')})` : ''}`,
  );
  lines.push(`  failed: ${r.failed.length + omitted.failed}`);
  for (const f of r.failed)
    lines.push(
      `    - tenant ${f.tenantId ?? '?'} (${f.customerId ?? 'no customer'}) [${f.phase}] ${f.code}: ${f.error}`,
    );
  if (omitted.failed > 0) lines.push(`    … and ${omitted.failed} more, not listed`);
  lines.push(`  stripe requests: ${r.stripeRequests}, duration: ${r.durationMs} ms`);
  return `${lines.join('\n')}\n`;
}

/** Process wiring: Ctrl-C once stops between batches and fixes and prints the partial report; twice exits at once. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  return withInterrupts((signal) => runReconcileCli(argv, processIo(signal)));
}

// `tsx src/entry/cli/reconcile.ts` runs the command; importing it (tests) does not.
if (isEntryPoint(import.meta.url)) exitWhenDone(await main());

import { Command } from 'commander';
import {
  LISTED_MIGRATION_RESULTS,
  migrateMetadataToEntitlements,
  type EntitlementMigrationDeps,
  type EntitlementMigrationResult,
  type MigrationAction,
} from '../../flows/entitlements-migration/index.js';
import {
  createContextFromEnv,
  EXIT_OK,
  EXIT_USAGE,
  exitWhenDone,
  isEntryPoint,
  parseArguments,
  runWithContext,
  withIo,
  type CommandIo,
} from './common.js';

export { EXIT_OK, EXIT_USAGE };
/** Some products could not be migrated (see `problems`); everything else was. */
export const EXIT_PROBLEMS = 1;

/** The part of the billing context this command uses. */
export interface EntitlementsCliContext {
  stripe: EntitlementMigrationDeps['stripe'];
  stripeSync: { call: EntitlementMigrationDeps['call'] };
  catalog: EntitlementMigrationDeps['catalog'];
  close?(): Promise<void>;
}

interface ParsedOptions {
  apply: boolean;
  json: boolean;
}

function buildProgram(io: CommandIo<EntitlementsCliContext>): Command {
  return withIo(new Command('migrate-metadata-to-entitlements'), io)
    .description(
      "Create the Stripe Features and product attachments equivalent to the products' feature metadata.\n" +
        'Dry run unless --apply; metadata is never changed and nothing is detached, so it can be run again.\n' +
        'Env: STRIPE_SECRET_KEY, STRIPE_API_BASE, DATABASE_URL (for the feature catalog).',
    )
    .option('--apply', 'create the Features and attachments (default: only print the plan)', false)
    .option('--json', 'print one JSON document instead of text', false);
}

export async function runEntitlementsMigrationCli(
  argv: readonly string[],
  io: CommandIo<EntitlementsCliContext>,
): Promise<number> {
  const parsed = parseArguments<ParsedOptions>(buildProgram(io), argv);
  if ('exitCode' in parsed) return parsed.exitCode;
  const { options } = parsed;
  return runWithContext(
    io,
    createContextFromEnv,
    { label: 'Migration failed', exitCode: EXIT_PROBLEMS, json: options.json },
    async (context) => {
      if (!options.apply && !options.json)
        io.stdout.write('Dry run: nothing will be created (use --apply).\n');
      const result = await migrateMetadataToEntitlements(
        { stripe: context.stripe, call: context.stripeSync.call, catalog: context.catalog },
        {
          apply: options.apply,
          // Bounded however many products custom plans made: the first actions and problems, all counted.
          keepResults: LISTED_MIGRATION_RESULTS,
          onApplied: options.json ? undefined : (action) => io.stdout.write(`${describe(action, true)}\n`),
        },
      );
      io.stdout.write(options.json ? `${JSON.stringify(result, null, 2)}\n` : textReport(result));
      return result.problemCount > 0 ? EXIT_PROBLEMS : EXIT_OK;
    },
  );
}

function describe(action: MigrationAction, done: boolean): string {
  if (action.kind === 'create_feature') {
    const value = action.value === null ? '' : ` (metadata value=${action.value})`;
    return `${done ? 'created' : 'would create'} Feature ${action.lookupKey}${value}`;
  }
  return `${done ? 'attached' : 'would attach'} ${action.lookupKey} to ${action.productId}`;
}

function textReport(result: EntitlementMigrationResult): string {
  const lines: string[] = [];
  const omitted = result.omitted ?? { actions: 0, problems: 0 };
  if (!result.applied) for (const action of result.actions) lines.push(describe(action, false));
  if (!result.applied && omitted.actions > 0) lines.push(`… and ${omitted.actions} more actions, not listed`);
  for (const problem of result.problems)
    lines.push(
      `problem: ${problem.productId}${problem.lookupKey ? ` ${problem.lookupKey}` : ''}: ${problem.reason}`,
    );
  if (omitted.problems > 0) lines.push(`… and ${omitted.problems} more problems, not listed`);
  if (lines.length > 0) lines.push('');
  const verb = result.applied ? '' : 'would be ';
  lines.push(`Summary${result.applied ? '' : ' (dry run, nothing created)'}`);
  lines.push(
    `  products read: ${result.products}, with metadata features: ${result.productsWithMetadataFeatures}`,
  );
  lines.push(`  Features ${verb}created: ${result.featuresToCreate}`);
  lines.push(`  attachments ${verb}created: ${result.attachmentsToCreate}`);
  lines.push(`  already attached: ${result.alreadyAttached}`);
  lines.push(`  problems: ${result.problemCount}`);
  return `${lines.join('\n')}\n`;
}

export async function runAsProcess(): Promise<void> {
  exitWhenDone(
    await runEntitlementsMigrationCli(process.argv.slice(2), {
      stdout: process.stdout,
      stderr: process.stderr,
      env: process.env,
    }),
  );
}

// `tsx src/entry/cli/migrate-metadata-to-entitlements.ts` runs the command; importing the module (tests, the bin) does not.
if (isEntryPoint(import.meta.url)) await runAsProcess();

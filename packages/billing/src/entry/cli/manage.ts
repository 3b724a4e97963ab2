import { Command, InvalidArgumentError, Option } from 'commander';
import { createManagementContext, createPlanReader, type ManagementContext } from '../context.js';
import {
  addFeature,
  clearFeatureOverride,
  createTenant,
  deleteTenant,
  deprecateFeature,
  describeFeature,
  setFeatureRules,
  getTenant,
  linkStripeCustomer,
  listFeatures,
  listTenants,
  listTenantsOptions,
  renameTenant,
  setFeatureOverride,
  setFeatureUsage,
  unlinkStripeCustomer,
  type TenantListFilter,
  type TenantManagementOptions,
} from '../../flows/management/index.js';
import {
  USAGE_METER_REPORTS,
  USAGE_OVERAGE_POLICIES,
  USAGE_RESETS,
  type UsageMeterReport,
  type UsageOveragePolicy,
  type UsageReset,
  type UsageRules,
} from '../../core/index.js';
import { BillingError, ValidationError } from '../../core/errors.js';
import { createUsageService } from '../../flows/usage/index.js';
import { explainFeature } from '../../flows/explain/index.js';
import { previewPlanChange, type PreviewPlanDeps, type ProposedPlan } from '../../flows/preview/index.js';
import type { FeatureValue, MergeStrategy } from '../../core/types.js';
import {
  EXIT_OK,
  EXIT_USAGE,
  exitWhenDone,
  isEntryPoint,
  terminalSafe,
  npmSwallowedDryRun,
  positiveInteger,
  runWithContext,
  withIo,
  type CommandIo,
} from './common.js';

/**
 * `npm run manage -- <area> <action> …`: tenants, manual overrides and the feature catalog, through
 * the same library functions as the admin API. Every change is audited with actor `cli` (or
 * `--actor`). Prints JSON on stdout; errors on stderr with exit 1 (bad input, conflicts, not found)
 * or 2 (usage, configuration).
 */

export type ManageCliContext = Pick<ManagementContext, 'prisma' | 'featureReader'> & {
  /** Stripe reads for `preview` (default: from STRIPE_SECRET_KEY, STRIPE_API_BASE, PLAN_SOURCE). */
  stripeSync?: PreviewPlanDeps['stripeSync'];
  embedded?: boolean;
  close?(): Promise<void>;
};
export type ManageCliIo = CommandIo<ManageCliContext>;

const EXIT_FAILED = 1;

function featureValue(raw: string): FeatureValue {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (/^[0-9]+$/.test(raw)) return Number(raw);
  throw new InvalidArgumentError('must be true, false or a whole number.');
}

function wholeNumber(raw: string): number {
  if (/^[0-9]+$/.test(raw) && Number.isSafeInteger(Number(raw))) return Number(raw);
  throw new InvalidArgumentError('must be a whole number.');
}

function boolOption(raw: string): boolean {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw new InvalidArgumentError('must be true or false.');
}

function jsonObject(raw: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new InvalidArgumentError('must be a JSON object.');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new InvalidArgumentError('must be a JSON object.');
  return value as Record<string, unknown>;
}

function isoDate(raw: string): Date {
  const date = new Date(raw);
  if (Number.isNaN(date.getTime())) throw new InvalidArgumentError('must be an ISO 8601 date/time.');
  return date;
}

/**
 * --reset and --overage: both (a metered key), or neither; one alone is a usage error. --stripe-meter
 * (and --stripe-meter-report) report the key's usage to a Stripe meter (docs/usage.md).
 */
function usageOptions(o: {
  reset?: UsageReset;
  overage?: UsageOveragePolicy;
  stripeMeter?: string;
  stripeMeterReport?: UsageMeterReport;
}): { usage?: UsageRules } {
  const { reset, overage } = o;
  if (reset === undefined && overage === undefined && o.stripeMeter === undefined) return {};
  if (reset === undefined || overage === undefined)
    throw new ValidationError('give both --reset and --overage to meter a key', [
      { path: reset === undefined ? 'reset' : 'overage', message: 'required with the other' },
    ]);
  return {
    usage: {
      reset,
      overage,
      ...(o.stripeMeter !== undefined ? { stripeMeter: o.stripeMeter } : {}),
      ...(o.stripeMeterReport !== undefined ? { stripeMeterReport: o.stripeMeterReport } : {}),
    },
  };
}

type Action = (context: ManageCliContext, who: TenantManagementOptions) => Promise<unknown>;

function buildProgram(io: ManageCliIo, run: (action: Action) => void): Command {
  const program = withIo(new Command('manage'), io)
    .description(
      'Manage tenants, manual feature overrides and the feature catalog (audited, actor "cli").\n' +
        'Env: DATABASE_URL (embedded, empty database when unset), REDIS_URL (feature cache to refresh).',
    )
    .option('--actor <name>', 'name recorded in the audit rows', 'cli');
  const sub = (parent: Command, name: string) => withIo(parent.command(name), io);
  tenantCommands(program, sub, run);
  overrideCommands(program, sub, run);
  featureCommands(program, sub, run);
  usageCommands(program, sub, run);
  explainCommand(program, sub, run);
  previewCommand(program, sub, run, io);
  return program;
}

type Sub = (parent: Command, name: string) => Command;
type Run = (action: Action) => void;

/** `manage tenants …`: list, show, create, rename, link, unlink, delete. */
function tenantCommands(program: Command, sub: Sub, run: Run): void {
  const tenants = sub(program, 'tenants').description('tenants and their Stripe customer link');
  sub(tenants, 'list')
    .description('list tenants (sorted by id, one page)')
    .addOption(new Option('--limit <n>', 'page size (1-200)').argParser(positiveInteger))
    .option('--cursor <id>', 'nextCursor of the previous page')
    .option('--bundle <bundle>', 'plan tier')
    .option('--plan <id>', 'Stripe price or product id')
    .addOption(new Option('--access <bool>', 'access granted (true/false)').argParser(boolOption))
    .addOption(new Option('--custom-plan <bool>', 'on a custom plan (true/false)').argParser(boolOption))
    .addOption(new Option('--updated-since <iso>', 'changed at or after').argParser(isoDate))
    .action((o: TenantListFilter) => run((c) => listTenants(c.prisma, listTenantsOptions(o))));
  sub(tenants, 'show')
    .argument('<tenantId>')
    .action((id: string) => run((c) => getTenant(c.prisma, id)));
  sub(tenants, 'create')
    .argument('<tenantId>')
    .argument('<name>')
    .option('--stripe-customer <customerId>', 'link this Stripe customer')
    .action((id: string, name: string, o) =>
      run((c, who) =>
        createTenant(
          c.prisma,
          { id, name, ...(o.stripeCustomer ? { stripeCustomerId: o.stripeCustomer } : {}) },
          who,
        ),
      ),
    );
  sub(tenants, 'rename')
    .argument('<tenantId>')
    .argument('<name>')
    .action((id: string, name: string) => run((c, who) => renameTenant(c.prisma, id, name, who)));
  sub(tenants, 'link')
    .argument('<tenantId>')
    .argument('<customerId>')
    .action((id: string, customer: string) =>
      run((c, who) => linkStripeCustomer(c.prisma, id, customer, who)),
    );
  sub(tenants, 'unlink')
    .argument('<tenantId>')
    .action((id: string) => run((c, who) => unlinkStripeCustomer(c.prisma, id, who)));
  sub(tenants, 'delete')
    .argument('<tenantId>')
    .description('delete the tenant with its config and custom plans (its audit rows stay)')
    .action((id: string) => run((c, who) => deleteTenant(c.prisma, id, who)));
}

/** `manage overrides …`: set and clear one tenant's manual override of a key. */
function overrideCommands(program: Command, sub: Sub, run: Run): void {
  const overrides = sub(program, 'overrides').description("one tenant's manual feature overrides");
  sub(overrides, 'set')
    .argument('<tenantId>')
    .argument('<key>')
    .argument('<value>', 'true, false or a whole number', featureValue)
    .action((id: string, key: string, value: FeatureValue) =>
      run((c, who) => setFeatureOverride(c.prisma, id, key, value, who)),
    );
  sub(overrides, 'clear')
    .argument('<tenantId>')
    .argument('<key>')
    .action((id: string, key: string) => run((c, who) => clearFeatureOverride(c.prisma, id, key, who)));
}

/** `manage features …`: the catalog (list, add, meter, rules, describe, deprecate). */
function featureCommands(program: Command, sub: Sub, run: Run): void {
  const features = sub(program, 'features').description('the feature catalog');
  sub(features, 'list').action(() => run((c) => listFeatures(c.prisma)));
  sub(features, 'add')
    .argument('<key>', 'e.g. platform.whiteLabel or max_users')
    .addOption(new Option('--type <type>', 'value type').choices(['boolean', 'number']).makeOptionMandatory())
    .requiredOption('--description <text>', 'what the feature grants')
    .addOption(new Option('--reset <when>', 'meter it: when usage resets').choices(USAGE_RESETS))
    .addOption(new Option('--overage <policy>', 'meter it: beyond the limit').choices(USAGE_OVERAGE_POLICIES))
    .option('--stripe-meter <event_name>', 'report its usage to this Stripe meter')
    .addOption(
      new Option('--stripe-meter-report <what>', 'every unit used, or only the overage').choices(
        USAGE_METER_REPORTS,
      ),
    )
    .addOption(
      new Option('--combine <rule>', 'number keys: across items and subscriptions').choices(['max', 'sum']),
    )
    .option('--over-limit <policy>', 'number keys: block_new, allow or grace:<days>')
    .action((key: string, o) =>
      run((c, who) =>
        addFeature(
          c.prisma,
          {
            key,
            type: o.type,
            description: o.description,
            ...usageOptions(o),
            combine: o.combine,
            overLimit: o.overLimit,
          },
          who,
        ),
      ),
    );
  sub(features, 'meter')
    .description('make a number key metered (or change its rules); --off stops metering it')
    .argument('<key>')
    .addOption(new Option('--reset <when>', 'when usage resets').choices(USAGE_RESETS))
    .addOption(new Option('--overage <policy>', 'beyond the limit').choices(USAGE_OVERAGE_POLICIES))
    .option('--stripe-meter <event_name>', 'report its usage to this Stripe meter')
    .addOption(
      new Option('--stripe-meter-report <what>', 'every unit used, or only the overage').choices(
        USAGE_METER_REPORTS,
      ),
    )
    .option('--off', 'stop metering the key (counters stay)')
    .action((key: string, o) =>
      run((c, who) => setFeatureUsage(c.prisma, key, o.off ? null : (usageOptions(o).usage ?? null), who)),
    );
  sub(features, 'rules')
    .argument('<key>')
    .addOption(new Option('--combine <rule>', 'across items and subscriptions').choices(['max', 'sum']))
    .option('--over-limit <policy>', 'block_new, allow or grace:<days>')
    .action((key: string, o) =>
      run((c, who) => setFeatureRules(c.prisma, key, { combine: o.combine, overLimit: o.overLimit }, who)),
    );
  sub(features, 'describe')
    .argument('<key>')
    .argument('<description>')
    .action((key: string, description: string) =>
      run((c, who) => describeFeature(c.prisma, key, description, who)),
    );
  sub(features, 'deprecate')
    .argument('<key>')
    .action((key: string) => run((c, who) => deprecateFeature(c.prisma, key, who)));
}

/** `manage usage …`: show, set and reset one tenant's usage of metered keys. */
function usageCommands(program: Command, sub: Sub, run: Run): void {
  const usage = sub(program, 'usage').description("one tenant's usage of metered features (docs/usage.md)");
  const usageOf = (c: ManageCliContext) =>
    createUsageService(c.prisma, { featureReader: c.featureReader, sweepIntervalMs: 0 });
  sub(usage, 'show')
    .argument('<tenantId>')
    .action((id: string) => run((c) => usageOf(c).getUsage(id)));
  sub(usage, 'set')
    .description("set the current period's usage of a key (audited)")
    .argument('<tenantId>')
    .argument('<key>')
    .argument('<used>', 'a whole number', wholeNumber)
    .action((id: string, key: string, used: number) =>
      run((c, who) => usageOf(c).setUsage(id, key, used, who)),
    );
  sub(usage, 'reset')
    .description("reset the current period's usage of one key, or of every metered key (audited)")
    .argument('<tenantId>')
    .argument('[key]')
    .action((id: string, key: string | undefined) => run((c, who) => usageOf(c).resetUsage(id, key, who)));
}

/** `manage explain`: why a tenant has its value of a feature. */
function explainCommand(program: Command, sub: Sub, run: Run): void {
  sub(program, 'explain')
    .description('why a tenant has its value of a feature: plan, override, access, the change behind it')
    .argument('<tenantId>')
    .argument('<key>')
    .addOption(new Option('--at <iso>', 'explain a past instant, from the audit log').argParser(isoDate))
    .action((id: string, key: string, o: { at?: Date }) =>
      run((c) => explainFeature(c.prisma, id, key, o.at ? { at: o.at } : {})),
    );
}

/** `manage preview`: what a plan edit would do, before it is made. */
function previewCommand(program: Command, sub: Sub, run: Run, io: ManageCliIo): void {
  sub(program, 'preview')
    .description(
      'what a plan edit would do before it is made: tenants that would change, each key before/after,\n' +
        'metered keys over the new limit (nothing is written; reads Stripe: STRIPE_SECRET_KEY)',
    )
    .argument('<productOrPriceId>')
    .addOption(
      new Option('--metadata <json>', 'new metadata merged into the product or price ("" removes a key)')
        .argParser(jsonObject)
        .conflicts('features'),
    )
    .addOption(
      new Option('--features <json>', 'the feature map the product or price grants').argParser(jsonObject),
    )
    .addOption(new Option('--merge-strategy <strategy>').choices(['merge', 'replace', 'preserve']))
    .addOption(new Option('--limit <n>', 'tenants listed at most').argParser(wholeNumber))
    .action(
      (
        id: string,
        o: {
          metadata?: Record<string, string>;
          features?: Record<string, FeatureValue>;
          mergeStrategy?: MergeStrategy;
          limit?: number;
        },
      ) => {
        if (!o.metadata && !o.features) program.error('preview needs --metadata or --features');
        const proposed: ProposedPlan = o.metadata ? { metadata: o.metadata } : { features: o.features! };
        run((c) =>
          previewPlanChange(
            { prisma: c.prisma, stripeSync: c.stripeSync ?? createPlanReader(c.prisma, { env: io.env }) },
            id,
            proposed,
            {
              ...(o.mergeStrategy ? { mergeStrategy: o.mergeStrategy } : {}),
              ...(o.limit !== undefined ? { limit: o.limit } : {}),
            },
          ),
        );
      },
    );
}

/** The whole command minus process wiring; returns the exit code. */
export async function runManageCli(argv: readonly string[], io: ManageCliIo): Promise<number> {
  // Nothing here has a dry run: npm swallowing the flag means the user expected one.
  const swallowed = npmSwallowedDryRun(io.env ?? process.env, 'manage');
  if (swallowed) {
    io.stderr.write(swallowed.replace('-- --dry-run', '-- <command>'));
    return EXIT_USAGE;
  }
  let chosen: Action | null = null;
  const program = buildProgram(io, (action) => {
    chosen = action;
  });
  try {
    program.parse([...argv], { from: 'user' });
  } catch (error) {
    const code = (error as { code?: string }).code;
    return code === 'commander.helpDisplayed' || code === 'commander.help' || code === 'commander.version'
      ? EXIT_OK
      : EXIT_USAGE;
  }
  const action: Action | null = chosen;
  if (!action) {
    program.outputHelp();
    return EXIT_USAGE;
  }
  const actor: string = program.opts().actor;
  return runWithContext(
    io,
    (env) => createManagementContext({ env }),
    { label: 'Failed', exitCode: EXIT_FAILED, json: false },
    async (context) => {
      if (context.embedded)
        io.stderr.write(
          'DATABASE_URL is not set: using an embedded database that disappears when this command ends.\n',
        );
      try {
        const result = await (action as Action)(context, {
          actor,
          source: 'cli',
          featureReader: context.featureReader,
        });
        io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        return EXIT_OK;
      } catch (error) {
        // Bad input, conflicts, unknown tenants or keys: the data is the problem, not the setup.
        if (!(error instanceof BillingError)) throw error;
        io.stderr.write(`Error (${error.code}): ${terminalSafe(error.message)}\n`);
        return EXIT_FAILED;
      }
    },
  );
}

if (isEntryPoint(import.meta.url)) {
  exitWhenDone(
    await runManageCli(process.argv.slice(2), {
      stdout: process.stdout,
      stderr: process.stderr,
      env: process.env,
    }),
  );
}

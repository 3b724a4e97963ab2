import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import {
  EXIT_OK,
  EXIT_USAGE,
  exitWhenDone,
  isEntryPoint,
  parseArguments,
  withIo,
  type Writer,
} from './common.js';

/**
 * `stripe-entitlements <command>`: the one command line of the package. Each command is its own
 * module, loaded only when chosen (a `--help` loads no database driver), and parses its own
 * arguments, so `stripe-entitlements reconcile --fix` and the old `reconcile --fix` behave the same.
 * Every command answers `--help` and `--version`; the exit codes and `--json` are each command's
 * (docs/cli.md).
 */

export interface MainIo {
  stdout: Writer;
  stderr: Writer;
  env: NodeJS.ProcessEnv;
  /** Aborted on Ctrl-C, for the long commands (sync, reconcile). */
  signal?: AbortSignal;
  /** How the chosen command is named in its usage lines (`stripe-entitlements reconcile`). */
  commandName?: string;
}

/** What a chosen command does with the rest of the arguments; `serve` and `worker` keep running. */
type Runner = (argv: readonly string[], io: MainIo) => Promise<number | 'running'>;

interface CommandEntry {
  summary: string;
  run: Runner;
}

const longRunning = async (signalIo: MainIo, run: (signal: AbortSignal) => Promise<number>) => {
  if (signalIo.signal) return run(signalIo.signal);
  const { withInterrupts } = await import('./common.js');
  return withInterrupts(run);
};

function processLike(io: MainIo, signal: AbortSignal) {
  return {
    stdout: io.stdout,
    stderr: io.stderr,
    env: io.env,
    signal,
    commandName: io.commandName,
    isTTY: io.stderr === process.stderr && process.stderr.isTTY === true,
    columns: process.stderr.columns,
  };
}

export const COMMANDS: Record<string, CommandEntry> = {
  serve: {
    summary: 'run the HTTP server (webhook route, admin API, console, probes) and its in-process workers',
    run: async (argv, io) => processCommand('serve', argv, io),
  },
  worker: {
    summary: 'run webhook workers without an HTTP server (scale processing apart from ingestion)',
    run: async (argv, io) => processCommand('worker', argv, io),
  },
  db: {
    summary:
      'db migrate | db status: create our tables in DATABASE_SCHEMA, or list applied / pending migrations',
    run: async (argv, io) => (await import('./db.js')).runDbCli(argv, io),
  },
  sync: {
    summary:
      "bulk sync: every tenant's features from its Stripe plan (same as migrate-stripe-metadata-to-db)",
    run: async (argv, io) => {
      const { runMigrateCli } = await import('./migrate-stripe-metadata-to-db.js');
      return longRunning(io, (signal) => runMigrateCli(argv, processLike(io, signal)));
    },
  },
  reconcile: {
    summary: 'report (and with --fix correct) tenants whose stored features differ from Stripe',
    run: async (argv, io) => {
      const { runReconcileCli } = await import('./reconcile.js');
      return longRunning(io, (signal) => runReconcileCli(argv, processLike(io, signal)));
    },
  },
  manage: {
    summary: 'tenants, Stripe customer links, feature overrides and the feature catalog (audited)',
    run: async (argv, io) => (await import('./manage.js')).runManageCli(argv, io),
  },
  'migrate-stripe-metadata-to-db': {
    summary: "copy plan features from Stripe metadata into each tenant's config (the spec's command)",
    run: async (argv, io) => {
      const { runMigrateCli } = await import('./migrate-stripe-metadata-to-db.js');
      return longRunning(io, (signal) => runMigrateCli(argv, processLike(io, signal)));
    },
  },
  'migrate-metadata-to-entitlements': {
    summary: "move plan features from product metadata to Stripe's native Entitlements Features",
    run: async (argv, io) =>
      (await import('./migrate-metadata-to-entitlements.js')).runEntitlementsMigrationCli(argv, io),
  },
  'generate-feature-types': {
    summary:
      "write a .d.ts declaring the catalog's feature keys and value types (typed requireFeature / getLimit)",
    run: async (argv, io) => (await import('./generate-feature-types.js')).runGenerateFeatureTypes(argv, io),
  },
};

/** The package's version, read from the package.json beside src/ or dist/. */
export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}

/** `--version` anywhere before a `--`, for the root and every command alike. */
function wantsVersion(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).some((a) => a === '--version' || a === '-V');
}

function rootProgram(io: MainIo): Command {
  const program = withIo(new Command('stripe-entitlements'), io)
    .description(
      'Stripe plans as per-tenant feature flags in PostgreSQL: the server, its workers and the operator commands.\n' +
        'Run `stripe-entitlements <command> --help` for a command. Configuration comes from the environment (docs/cli.md).',
    )
    .usage('<command> [options]')
    .helpCommand(false)
    .option('--json', 'with --version: print {"name","version"}', false);
  for (const [name, entry] of Object.entries(COMMANDS)) program.command(name).description(entry.summary);
  return program;
}

/** The whole CLI minus process wiring: returns the exit code, or 'running' for serve / worker. */
export async function runMain(argv: readonly string[], io: MainIo): Promise<number | 'running'> {
  const [name, ...rest] = argv;
  const entry = name !== undefined && Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (wantsVersion(argv)) {
    const version = packageVersion();
    io.stdout.write(
      argv.includes('--json')
        ? `${JSON.stringify({ name: '@packages/billing', command: entry ? name : undefined, version })}\n`
        : `stripe-entitlements ${version}\n`,
    );
    return EXIT_OK;
  }
  if (!entry) {
    const program = rootProgram(io);
    if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
      program.outputHelp();
      return name === undefined ? EXIT_USAGE : EXIT_OK;
    }
    // Unknown command or option: commander says so (with a suggestion) on stderr.
    const parsed = parseArguments(program, argv);
    return 'exitCode' in parsed ? parsed.exitCode : EXIT_USAGE;
  }
  return entry.run(rest, { ...io, commandName: `stripe-entitlements ${name}` });
}

/** serve and worker: their own help here; the process runs until a signal stops it. */
async function processCommand(which: 'serve' | 'worker', argv: readonly string[], io: MainIo) {
  const program = withIo(new Command(which), io).description(
    which === 'serve'
      ? 'Run the HTTP server: POST /api/stripe/webhook, the admin API, the console, /health/live and /health/ready,\n' +
          '/metrics, plus WEBHOOK_WORKERS in-process workers. SIGINT/SIGTERM drain and exit 0.\n' +
          'Exit: 1 bad configuration or port in use.\n' +
          'Env: DATABASE_URL, DATABASE_SCHEMA, STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, ADMIN_API_TOKENS, PORT, HOST,\n' +
          'REDIS_URL, WEBHOOK_WORKERS, CONSOLE_SESSION_SECRET, METRICS_PORT, LOG_LEVEL (docs/deploy.md lists them all).'
      : 'Run webhook workers only: claim stored events and process them; any number beside any number of servers.\n' +
          'SIGINT/SIGTERM: current claims finish, exit 0. Exit: 1 bad configuration.\n' +
          'Env: DATABASE_URL, DATABASE_SCHEMA, STRIPE_SECRET_KEY, REDIS_URL, WEBHOOK_WORKERS, WEBHOOK_POLL_MS, LOG_LEVEL.',
  );
  const parsed = parseArguments(program, argv);
  if ('exitCode' in parsed) return parsed.exitCode;
  const { messageOf } = await import('../../core/errors.js');
  try {
    if (which === 'serve') await (await import('../server/main.js')).main(io.env);
    else await (await import('../server/worker-main.js')).workerMain(io.env);
  } catch (error) {
    // One line: the stack is noise for an operator, and the cause is in the message.
    io.stderr.write(`${which === 'serve' ? 'Server' : 'Worker'} failed: ${messageOf(error)}\n`);
    return 1;
  }
  return 'running' as const;
}

/** Process wiring for the bin. */
export async function runAsProcess(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  const code = await runMain(argv, { stdout: process.stdout, stderr: process.stderr, env: process.env });
  // serve / worker set process.exitCode themselves when they fail, and exit when their signal comes.
  if (code !== 'running') exitWhenDone(code);
}

if (isEntryPoint(import.meta.url)) await runAsProcess();

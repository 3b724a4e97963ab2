import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CommanderError, InvalidArgumentError, type Command, type OptionValues } from 'commander';
import type { BillingContext } from '../context.js';
import { onInterrupt } from '../../io/process/interrupts.js';
import { BillingError, messageOf, StripeAuthenticationError, ValidationError } from '../../core/errors.js';

/** Shared plumbing of the command-line tools: argument parsers, context lifetime, error reporting, process wiring. */

export const EXIT_OK = 0;
export const EXIT_USAGE = 2;

export interface Writer {
  write(chunk: string): unknown;
}

export interface CommandIo<Context> {
  /** Used as is and left open (the caller owns it); otherwise one is created from `env` and closed. */
  context?: Context;
  createContext?: (env: NodeJS.ProcessEnv) => Promise<Context>;
  env?: NodeJS.ProcessEnv;
  stdout: Writer;
  stderr: Writer;
}

export function positiveInteger(value: string): number {
  const n = /^[0-9]+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer.');
  return n;
}

export function tenantIdArgument(value: string): string {
  const trimmed = value.trim();
  if (trimmed === '' || trimmed.length > 255)
    throw new InvalidArgumentError('must be a tenant id (1-255 characters).');
  return trimmed;
}

/** Help and errors go to the injected streams, and commander reports instead of exiting. */
export function withIo(
  command: Command,
  io: { stdout: Writer; stderr: Writer; commandName?: string },
): Command {
  // Run as `stripe-entitlements <command>`, the command's usage lines name it that way (its
  // subcommands keep their own names under it).
  if (io.commandName && !command.parent) command.name(io.commandName);
  return command
    .helpOption('-h, --help', 'show this help')
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => void io.stdout.write(text),
      writeErr: (text) => void io.stderr.write(text),
    });
}

/** Parses user arguments: the options, or the exit code when parsing ended the command (help, bad usage). */
export function parseArguments<Options extends OptionValues>(
  program: Command,
  argv: readonly string[],
): { options: Options } | { exitCode: number } {
  try {
    program.parse([...argv], { from: 'user' });
    return { options: program.opts<Options>() };
  } catch (error) {
    if (error instanceof CommanderError) {
      return {
        exitCode:
          error.code === 'commander.helpDisplayed' || error.code === 'commander.version'
            ? EXIT_OK
            : EXIT_USAGE,
      };
    }
    throw error;
  }
}

export interface RunFailure {
  /** Prefix of the error line, e.g. "Sync failed". */
  label: string;
  /** Exit code of a failure that is not a configuration problem. */
  exitCode: number;
  /** The error as a JSON document on stdout too; `lines`: as one `{"type":"error",…}` line. */
  json: boolean | 'lines';
}

/**
 * Opens the billing context (unless injected), runs the command and always closes what it opened.
 * A bad Stripe key or configuration exits with EXIT_USAGE: the operator must fix the setup, not the data.
 */
export async function runWithContext<Context extends { close?(): Promise<void> }>(
  io: CommandIo<Context>,
  createDefault: (env: NodeJS.ProcessEnv) => Promise<Context>,
  failure: RunFailure,
  run: (context: Context) => Promise<number>,
): Promise<number> {
  let context = io.context;
  const owned = context === undefined;
  if (!context) {
    try {
      context = await (io.createContext ?? createDefault)(io.env ?? process.env);
    } catch (error) {
      io.stderr.write(`Configuration error: ${terminalSafe(messageOf(error))}\n`);
      return EXIT_USAGE;
    }
  }
  try {
    return await run(context);
  } catch (error) {
    const configProblem = error instanceof StripeAuthenticationError || error instanceof ValidationError;
    if (failure.json) {
      const code = error instanceof BillingError ? error.code : 'internal_error';
      const answer = { error: { code, message: messageOf(error) } };
      io.stdout.write(
        failure.json === 'lines'
          ? `${JSON.stringify({ type: 'error', ...answer })}\n`
          : `${JSON.stringify(answer, null, 2)}\n`,
      );
    }
    io.stderr.write(
      `${configProblem ? 'Configuration error' : failure.label}: ${terminalSafe(messageOf(error))}\n`,
    );
    return configProblem ? EXIT_USAGE : failure.exitCode;
  } finally {
    if (owned) await context.close?.().catch(() => {});
  }
}

/** Whether the module at `moduleUrl` is the script node was started with (not imported by a test or a bin). */
export function isEntryPoint(moduleUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}

/** Sets the exit code; a stray open handle (Redis reconnect timer, pool) cannot keep a finished job alive. */
export function exitWhenDone(code: number): void {
  process.exitCode = code;
  setTimeout(() => process.exit(code), 5_000).unref();
}

/**
 * The context a command opens when none is injected, built by the one composition root from `env`.
 * Imported lazily so that loading a command (tests, the bin) does not load the whole service graph.
 */
export async function createContextFromEnv(env: NodeJS.ProcessEnv): Promise<BillingContext> {
  const { createBillingContext } = await import('../context.js');
  return createBillingContext({ env: oneShotEnv(env) });
}

/**
 * A one-shot command's environment: it never reads a feature through its own cache, so its
 * in-process tier only costs memory (a bulk sync publishing 100,000 tenants filled ~40 MiB of it for
 * nothing). 1 MiB unless FEATURE_CACHE_MEMORY_MB says otherwise; its writes still reach Redis and,
 * through the change messages, every server's tier.
 */
export function oneShotEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return env.FEATURE_CACHE_MEMORY_MB?.trim() ? env : { ...env, FEATURE_CACHE_MEMORY_MB: '1' };
}

/**
 * Text safe to print on a terminal: control characters (ESC above all, which can recolour, move
 * the cursor or retitle the window) are shown as \u escapes; tab and newline stay.
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point: they are escaped
const TERMINAL_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/g;

export function terminalSafe(text: string): string {
  return text.replace(TERMINAL_CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A value in a before → after line: JSON, or "(none)" when absent. */
export function show(value: unknown): string {
  return value === undefined ? '(none)' : JSON.stringify(value);
}

/**
 * `npm run <script> --dry-run` (without `--`) hands --dry-run to npm, not to the script: npm only
 * sets npm_config_dry_run=true in the script's environment and the script would run for real.
 * Returns the refusal to print, or null when npm did not swallow the flag.
 */
export function npmSwallowedDryRun(env: NodeJS.ProcessEnv, script: string): string | null {
  if (env.npm_config_dry_run !== 'true') return null;
  return (
    `npm took --dry-run for itself (npm_config_dry_run=true), so ${script} would have written for real; nothing was done.\n` +
    `Put "--" before the command's options: npm run ${script} -- --dry-run\n`
  );
}

/** 128 + SIGINT, what shells report for a command stopped with Ctrl-C. */
export const EXIT_INTERRUPTED = 130;

/** How long a stopping command may take to reach a point where it can stop before it exits anyway. */
export const STOP_GRACE_MS = 5_000;

/**
 * Process wiring for a long command: the first Ctrl-C / SIGTERM aborts the returned signal (the
 * command stops between tenants and prints its partial summary); a second, separate one exits at
 * once. A command still busy STOP_GRACE_MS after the first (waiting on a database or Stripe that
 * does not answer) exits then with EXIT_INTERRUPTED: nothing it leaves is half-written, since every
 * write is one transaction the server rolls back when the connection goes.
 * The copies of one Ctrl-C (the terminal signals the whole group and npm forwards its own) count once.
 */
export async function withInterrupts<T>(
  run: (signal: AbortSignal) => Promise<T>,
  options: { graceMs?: number; exit?: (code: number) => void } = {},
): Promise<T> {
  const controller = new AbortController();
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const graceMs = options.graceMs ?? STOP_GRACE_MS;
  let grace: NodeJS.Timeout | undefined;
  const remove = onInterrupt({
    signals: ['SIGINT', 'SIGTERM'],
    onStop: () => {
      process.stderr.write('\nStopping after the tenants in progress… (Ctrl-C again to quit immediately)\n');
      controller.abort();
      grace = setTimeout(() => {
        process.stderr.write(
          `Still waiting (database or Stripe) ${graceMs} ms after the stop request; exiting.\n`,
        );
        exit(EXIT_INTERRUPTED);
      }, graceMs);
      grace.unref();
    },
    onForce: () => exit(EXIT_INTERRUPTED),
  });
  try {
    return await run(controller.signal);
  } finally {
    clearTimeout(grace);
    remove();
  }
}

/** The real process's streams, terminal facts and environment, as a long CLI command takes them. */
export function processIo(signal: AbortSignal) {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    isTTY: process.stderr.isTTY === true,
    columns: process.stderr.columns,
    env: process.env,
    signal,
  };
}

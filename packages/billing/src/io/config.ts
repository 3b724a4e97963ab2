import { z } from 'zod';
import {
  DatabaseConfigError,
  DEFAULT_DATABASE_TIMEOUTS,
  type DatabaseTimeouts,
  parseDatabaseUrl,
  resolveDatabaseTarget,
  SCHEMA_NAME_PATTERN,
} from '@packages/db';
import { ValidationError } from '../core/errors.js';
import { DEFAULT_PLAN_SOURCE, PLAN_SOURCES } from './plan-source/source.js';
import { parseAdminTokens } from './http/auth.js';

/**
 * Every environment variable the deployment reads, checked in one place. The composition root
 * (context.ts) and the entry points (server, CLIs) take their settings from the parsed result and
 * never read process.env themselves.
 *
 * To add a variable: one entry in `configVariables` (its check, and whether its value may be
 * printed), then use `config.NAME` where it is needed. Messages start after the variable's name
 * ("must be …"); the name is put in front, so every error names the variable that is wrong.
 */

/** Unset and blank are the same: an empty `FOO=` in a .env file means "not set". */
const text = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

function optional<T>(check: z.ZodType<T, string>) {
  return text.pipe(check.optional());
}

function withDefault<T>(check: z.ZodType<T, string>, fallback: T) {
  return text.pipe(check.optional()).transform((v) => v ?? fallback);
}

function httpUrl(message: string) {
  return z.url({ protocol: /^https?$/, error: message });
}

function wholeNumber(min: number, max: number, message: string) {
  return z
    .string()
    .regex(/^\d{1,9}$/, message)
    .transform(Number)
    .refine((n) => n >= min && n <= max, message);
}

function milliseconds(min: number, max: number) {
  const message = `must be a whole number of milliseconds from ${min} to ${max}`;
  return wholeNumber(min, max, message);
}

/** The database timeouts of a parsed configuration, as openDatabase takes them. */
export function databaseTimeouts(
  config: Pick<
    BillingConfig,
    | 'DATABASE_CONNECT_TIMEOUT_MS'
    | 'DATABASE_STATEMENT_TIMEOUT_MS'
    | 'DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS'
  >,
): DatabaseTimeouts {
  return {
    connectMs: config.DATABASE_CONNECT_TIMEOUT_MS,
    statementMs: config.DATABASE_STATEMENT_TIMEOUT_MS,
    idleInTransactionMs: config.DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS,
  };
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

interface VariableSpec<T> {
  check: z.ZodType<T, string | undefined>;
  /** Secrets and URLs that may carry credentials are never echoed in an error. */
  secret?: boolean;
}

function variable<T>(check: z.ZodType<T, string | undefined>, options: { secret?: boolean } = {}) {
  return { check, ...options } satisfies VariableSpec<T>;
}

export const configVariables = {
  STRIPE_SECRET_KEY: variable(
    text.pipe(
      z.string({ error: 'is required (a Stripe secret key, sk_live_… / sk_test_…, or the emulator key)' }),
    ),
    { secret: true },
  ),
  STRIPE_WEBHOOK_SECRET: variable(text, { secret: true }),
  STRIPE_API_BASE: variable(optional(httpUrl('must be an http(s) URL such as http://127.0.0.1:12111'))),
  DATABASE_URL: variable(
    text.superRefine((value, ctx) => {
      if (value === undefined) return;
      try {
        parseDatabaseUrl(value);
      } catch (error) {
        if (!(error instanceof DatabaseConfigError)) throw error;
        ctx.addIssue({ code: 'custom', message: error.message });
      }
    }),
    { secret: true },
  ),
  /** The effective schema after parsing: this, or the URL's `?schema=`, or `public`. */
  DATABASE_SCHEMA: variable(
    optional(
      z
        .string()
        .regex(
          SCHEMA_NAME_PATTERN,
          'must be a lowercase SQL identifier (a-z, 0-9 and _, not starting with a digit, at most 63 characters)',
        ),
    ),
  ),
  // Connections per process: the write pool (webhook and sync writes, transactions) and the read
  // pool (feature lookups, admin reads). Several processes on one PostgreSQL share max_connections.
  DATABASE_POOL_MAX: variable(
    withDefault(wholeNumber(1, 1000, 'must be a whole number of connections from 1 to 1000'), 10),
  ),
  DATABASE_READ_POOL_MAX: variable(
    withDefault(wholeNumber(1, 1000, 'must be a whole number of connections from 1 to 1000'), 5),
  ),
  // Bounds on every wait on PostgreSQL (both pools and the start-up connect), so a frozen or
  // partitioned server fails requests with 503 and start-up with one line instead of hanging them.
  // Opening a connection: start-up against a server that accepts and never answers fails this long
  // after the attempt (plus process start); waiting for a free pool connection is bounded by
  // connect + statement.
  DATABASE_CONNECT_TIMEOUT_MS: variable(
    withDefault(milliseconds(100, 600_000), DEFAULT_DATABASE_TIMEOUTS.connectMs),
  ),
  // One statement, lock waits included (statement_timeout); the client closes the connection 1 s
  // later if the server is too frozen to cancel it.
  DATABASE_STATEMENT_TIMEOUT_MS: variable(
    withDefault(milliseconds(100, 3_600_000), DEFAULT_DATABASE_TIMEOUTS.statementMs),
  ),
  // A session left idle inside an open transaction is ended by the server (idle_in_transaction_session_timeout).
  DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: variable(
    withDefault(milliseconds(1000, 3_600_000), DEFAULT_DATABASE_TIMEOUTS.idleInTransactionMs),
  ),
  /** The server refuses the throwaway embedded database unless this says it is meant. */
  ALLOW_EMBEDDED_DATABASE: variable(
    withDefault(
      z
        .enum(['true', 'false', '1', '0'], { error: 'must be true or false' })
        .transform((v) => v === 'true' || v === '1'),
      false,
    ),
  ),
  // Where plan features come from (docs/metadata.md, "Plan sources").
  PLAN_SOURCE: variable(
    withDefault(
      z.enum(PLAN_SOURCES, { error: `must be one of ${PLAN_SOURCES.join(', ')}` }),
      DEFAULT_PLAN_SOURCE,
    ),
  ),
  REDIS_URL: variable(
    optional(z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' })),
    { secret: true },
  ),
  // Checked here: a bad URL would otherwise only surface as a Stripe error at the checkout step,
  // after a product and price had been created (and then archived).
  CHECKOUT_SUCCESS_URL: variable(optional(httpUrl('must be an http(s) URL'))),
  CHECKOUT_CANCEL_URL: variable(optional(httpUrl('must be an http(s) URL'))),
  // Usage alerts (docs/usage.md): signed webhooks to the host when a metered key crosses 80 % / 100 %.
  USAGE_WEBHOOK_URL: variable(optional(httpUrl('must be an http(s) URL'))),
  USAGE_WEBHOOK_SECRET: variable(optional(z.string().min(16, 'must be at least 16 characters')), {
    secret: true,
  }),
  PAYMENT_GRACE_PERIOD_DAYS: variable(
    optional(wholeNumber(0, 365, 'must be a whole number of days from 0 to 365')),
  ),
  // How often `npm start` restricts tenants whose payment grace ran out (0 turns it off, e.g. when a
  // separate cron calls enforcePaymentGrace). A week is far longer than any useful interval, and
  // well inside what a Node timer can hold.
  PAYMENT_GRACE_CHECK_MINUTES: variable(
    optional(wholeNumber(0, 10_080, 'must be a whole number of minutes from 0 (off) to 10080 (a week)')),
  ),
  // Stripe requests per second for the whole deployment: one bucket in Redis shared by every server
  // and worker when REDIS_URL is set, else per process. Stripe allows 25/s in test mode, 100/s live.
  STRIPE_REQUESTS_PER_SECOND: variable(
    withDefault(
      z
        .string()
        .regex(/^\d{1,5}(\.\d{1,3})?$/, 'must be a number of requests per second from 0.1 to 10000')
        .transform(Number)
        .refine((n) => n >= 0.1 && n <= 10_000, 'must be a number of requests per second from 0.1 to 10000'),
      25,
    ),
  ),
  // Memory budget of the in-process feature cache in MiB: the tier in front of Redis, or the whole
  // cache without REDIS_URL. Entries are counted by estimated size; least recently read go beyond it.
  FEATURE_CACHE_MEMORY_MB: variable(
    withDefault(wholeNumber(1, 65_536, 'must be a whole number of MiB from 1 to 65536'), 128),
  ),
  // Webhook workers inside `npm start`: customer queues processed at once (0 = none in this process;
  // then run `npm run worker` elsewhere, or the route processes each event before answering).
  // Unset: enough to keep the Stripe budget busy (defaultWebhookWorkers).
  WEBHOOK_WORKERS: variable(
    withDefault(wholeNumber(0, 256, 'must be a whole number from 0 (no in-process worker) to 256'), 4),
  ),
  // How often an idle worker looks for due events (retries, leases of a killed worker, events
  // accepted by another process); events accepted by the same process wake it at once.
  WEBHOOK_POLL_MS: variable(withDefault(milliseconds(10, 60_000), 250)),
  // How long a worker's claim holds its events: a killed worker's events are taken over once it
  // runs out, so it must outlast one processing (a Stripe read with its retries, one write).
  WEBHOOK_LEASE_MS: variable(withDefault(milliseconds(1000, 3_600_000), 60_000)),
  // Processing tries before an event is marked failed (kept, listed and replayable by an admin).
  WEBHOOK_MAX_ATTEMPTS: variable(withDefault(wholeNumber(1, 100, 'must be a whole number from 1 to 100'), 8)),
  // Signs the admin console's session cookies; every instance behind one address needs the same value.
  CONSOLE_SESSION_SECRET: variable(
    optional(z.string().min(32, 'must be at least 32 characters (e.g. openssl rand -hex 32)')),
    { secret: true },
  ),
  PORT: variable(withDefault(wholeNumber(0, 65_535, 'must be a whole number from 0 to 65535'), 3000)),
  HOST: variable(
    withDefault(
      z.string().regex(/^[^\s/]{1,253}$/, 'must be a host name or IP address to listen on'),
      '127.0.0.1',
    ),
  ),
  LOG_LEVEL: variable(
    withDefault(z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }), 'info'),
  ),
  // With METRICS_PORT, GET /metrics moves to a listener of its own without a token (keep that
  // address private); without it, /metrics is on the main port and needs an admin token.
  METRICS_PORT: variable(optional(wholeNumber(1, 65_535, 'must be a whole number from 1 to 65535'))),
  METRICS_HOST: variable(
    withDefault(
      z.string().regex(/^[^\s/]{1,253}$/, 'must be a host name or IP address to listen on'),
      '127.0.0.1',
    ),
  ),
  ADMIN_API_TOKENS: variable(
    text.transform((value, ctx) => {
      try {
        return parseAdminTokens(value);
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        for (const issue of error.issues)
          ctx.addIssue({ code: 'custom', message: `${issue.path}: ${issue.message}` });
        return z.NEVER;
      }
    }),
    { secret: true },
  ),
};

type Variables = typeof configVariables;
export type ConfigVariable = keyof Variables;

/** The parsed configuration, one field per variable (DATABASE_SCHEMA always resolved). */
export type BillingConfig = { [K in ConfigVariable]: z.output<Variables[K]['check']> } & {
  DATABASE_SCHEMA: string;
};

export interface ConfigRequirements {
  /** The HTTP server verifies webhooks, so it cannot start without the endpoint secret. */
  requireWebhookSecret?: boolean;
  /**
   * The HTTP server acknowledges webhooks: into a database that vanishes on restart Stripe would
   * never redeliver them. Without DATABASE_URL it starts only when ALLOW_EMBEDDED_DATABASE is true.
   */
  requirePersistentDatabase?: boolean;
  /** Read and check only these variables (the others stay unset): see parseStorageConfig. */
  only?: readonly ConfigVariable[];
}

export interface ConfigIssue {
  /** The variable to fix. */
  path: ConfigVariable;
  message: string;
}

/**
 * Reads and checks every variable; throws one ValidationError listing each problem, each message
 * starting with the variable's name. Unset variables get their defaults.
 */
export function parseBillingConfig(
  env: NodeJS.ProcessEnv,
  requirements: ConfigRequirements = {},
): BillingConfig {
  const issues: ConfigIssue[] = [];
  const values: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(configVariables) as [ConfigVariable, VariableSpec<unknown>][]) {
    if (requirements.only && !requirements.only.includes(name)) continue;
    const raw = env[name];
    const parsed = spec.check.safeParse(raw);
    if (parsed.success) {
      values[name] = parsed.data;
      continue;
    }
    // One issue per variable: a value failing two checks still has one thing wrong with it.
    const message = parsed.error.issues[0]?.message ?? 'is invalid';
    const shown =
      !spec.secret && typeof raw === 'string' ? ` (got ${JSON.stringify(raw.slice(0, 100))})` : '';
    issues.push({ path: name, message: `${message.startsWith(name) ? '' : `${name} `}${message}${shown}` });
  }
  const config = values as BillingConfig;
  const failed = (name: ConfigVariable) => issues.some((i) => i.path === name);

  if (!failed('DATABASE_URL') && !failed('DATABASE_SCHEMA')) {
    if (config.DATABASE_URL) {
      try {
        config.DATABASE_SCHEMA = resolveDatabaseTarget({
          url: config.DATABASE_URL,
          schemaSetting: config.DATABASE_SCHEMA,
        }).schema;
      } catch (error) {
        if (!(error instanceof DatabaseConfigError)) throw error;
        issues.push({ path: error.variable, message: error.message });
      }
    } else {
      config.DATABASE_SCHEMA ??= 'public';
    }
  }
  if (
    (env.WEBHOOK_WORKERS === undefined || env.WEBHOOK_WORKERS === '') &&
    !failed('STRIPE_REQUESTS_PER_SECOND') &&
    config.STRIPE_REQUESTS_PER_SECOND !== undefined
  )
    config.WEBHOOK_WORKERS = defaultWebhookWorkers(config.STRIPE_REQUESTS_PER_SECOND);
  if (!failed('CHECKOUT_SUCCESS_URL') && !failed('CHECKOUT_CANCEL_URL')) {
    if (!config.CHECKOUT_SUCCESS_URL !== !config.CHECKOUT_CANCEL_URL) {
      const missing = config.CHECKOUT_SUCCESS_URL ? 'CHECKOUT_CANCEL_URL' : 'CHECKOUT_SUCCESS_URL';
      issues.push({
        path: missing,
        message: `${missing} is missing: CHECKOUT_SUCCESS_URL and CHECKOUT_CANCEL_URL must be set together`,
      });
    }
  }
  if (
    !failed('USAGE_WEBHOOK_URL') &&
    !failed('USAGE_WEBHOOK_SECRET') &&
    config.USAGE_WEBHOOK_URL &&
    !config.USAGE_WEBHOOK_SECRET
  )
    issues.push({
      path: 'USAGE_WEBHOOK_SECRET',
      message: 'USAGE_WEBHOOK_SECRET is required with USAGE_WEBHOOK_URL: the alerts are signed with it',
    });
  if (
    requirements.requireWebhookSecret &&
    !failed('STRIPE_WEBHOOK_SECRET') &&
    !config.STRIPE_WEBHOOK_SECRET
  ) {
    issues.push({
      path: 'STRIPE_WEBHOOK_SECRET',
      message:
        'STRIPE_WEBHOOK_SECRET is required to verify webhook signatures (the whsec_… secret of the endpoint)',
    });
  }
  if (
    requirements.requirePersistentDatabase &&
    !failed('DATABASE_URL') &&
    !failed('ALLOW_EMBEDDED_DATABASE') &&
    !config.DATABASE_URL &&
    !config.ALLOW_EMBEDDED_DATABASE
  ) {
    issues.push({
      path: 'DATABASE_URL',
      message:
        'DATABASE_URL is required: without it the server would keep tenants and acknowledged webhooks in an ' +
        'embedded in-memory database that is lost on restart (Stripe never redelivers an acknowledged event). ' +
        'Set ALLOW_EMBEDDED_DATABASE=true to run on it anyway, for development only',
    });
  }
  if (issues.length > 0) throw new ValidationError(issues.map((i) => i.message).join('; '), issues);
  return config;
}

/** What a command that never calls Stripe needs (`manage`): the database, its timeouts and the feature cache. */
const STORAGE_VARIABLES = [
  'DATABASE_URL',
  'DATABASE_SCHEMA',
  'DATABASE_CONNECT_TIMEOUT_MS',
  'DATABASE_STATEMENT_TIMEOUT_MS',
  'DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS',
  'REDIS_URL',
] as const satisfies readonly ConfigVariable[];
export type StorageConfig = Pick<BillingConfig, (typeof STORAGE_VARIABLES)[number]>;

/** parseBillingConfig of the storage variables only: no Stripe key is asked for. */
export function parseStorageConfig(env: NodeJS.ProcessEnv): StorageConfig {
  return parseBillingConfig(env, { only: STORAGE_VARIABLES });
}

/**
 * CHECKOUT_SUCCESS_URL / CHECKOUT_CANCEL_URL of this process, checked as createBillingContext checks
 * them (http(s) URLs, set together), or undefined when neither is set: the defaults of a custom plan
 * service built without the composition root (the spec's `createCustomPlanService(stripe, prisma)`),
 * which has no other way to learn them.
 */
export function checkoutUrlsFromProcessEnv(): { successUrl: string; cancelUrl: string } | undefined {
  const config = parseBillingConfig(process.env, { only: ['CHECKOUT_SUCCESS_URL', 'CHECKOUT_CANCEL_URL'] });
  return config.CHECKOUT_SUCCESS_URL && config.CHECKOUT_CANCEL_URL
    ? { successUrl: config.CHECKOUT_SUCCESS_URL, cancelUrl: config.CHECKOUT_CANCEL_URL }
    : undefined;
}

/**
 * Worker slots that keep a Stripe budget busy: each customer's processing waits on about one Stripe
 * read, so the slots needed are budget × the time one customer takes (its claim, the limiter's
 * round, the read, the write). Sized for one second, never fewer than 4 or more than 64: 25/s (test
 * mode, the default) gives 25 slots, 100/s (live) 64. On a busy 2-core machine a customer took
 * 555 ms at 150 ms Stripe latency, so the 12 slots of a 300 ms × 1.5 sizing held 86–94 % of a 25/s
 * budget where 25 held 96–97 % (docs/benchmarks.md); a slot waiting for a token costs only its lease.
 */
export function defaultWebhookWorkers(requestsPerSecond: number): number {
  return Math.min(64, Math.max(4, Math.ceil(requestsPerSecond)));
}

import { Command } from 'commander';
import {
  DatabaseConfigError,
  migrate,
  migrationStatus,
  resolveDatabaseTarget,
  type DatabaseTarget,
} from '@packages/db';
import { messageOf } from '../../core/errors.js';
import { EXIT_OK, EXIT_USAGE, parseArguments, withIo, type Writer } from './common.js';

/** A migration failed (rolled back: nothing of it is left), or `db status` found pending ones. */
export const EXIT_DB_FAILED = 1;

export interface DbCliIo {
  stdout: Writer;
  stderr: Writer;
  env: NodeJS.ProcessEnv;
}

const ENV_HELP =
  'Env: DATABASE_URL (required), DATABASE_SCHEMA (the schema our tables live in; default public).\n' +
  'In an existing application database use a schema of its own, e.g. DATABASE_SCHEMA=billing: our tables\n' +
  "(tenants, feature_catalog, …) then never meet the host's, and nothing outside that schema is touched.";

function buildProgram(io: DbCliIo, chosen: (run: (target: DatabaseTarget) => Promise<number>) => void) {
  const program = withIo(new Command('stripe-entitlements db'), io)
    .helpCommand(false)
    .description('The database our tables live in.\n' + ENV_HELP);
  withIo(program.command('migrate'), io)
    .description(
      'Create or update our tables in DATABASE_SCHEMA (created if missing). Idempotent: applies only what is\n' +
        'pending, each migration in its own transaction, one runner at a time (advisory lock).\n' +
        'Exit: 0 up to date, 1 a migration failed (rolled back), 2 bad usage or configuration.',
    )
    .option('--json', 'print {"schema","applied","alreadyApplied"}', false)
    .action((options: { json: boolean }) => chosen((target) => runMigrate(target, options.json, io)));
  withIo(program.command('status'), io)
    .description(
      'List applied and pending migrations of DATABASE_SCHEMA; writes nothing.\n' +
        'Exit: 0 up to date, 1 migrations pending (run `db migrate`), 2 bad usage or configuration.',
    )
    .option('--json', 'print {"schema","applied","pending"}', false)
    .action((options: { json: boolean }) => chosen((target) => runStatus(target, options.json, io)));
  return program;
}

/** `stripe-entitlements db migrate|status`: returns the exit code. */
export async function runDbCli(argv: readonly string[], io: DbCliIo): Promise<number> {
  let run: ((target: DatabaseTarget) => Promise<number>) | undefined;
  const program = buildProgram(io, (chosen) => (run = chosen));
  const parsed = parseArguments(program, argv);
  if ('exitCode' in parsed) return parsed.exitCode;
  if (!run) {
    program.outputHelp({ error: true });
    return EXIT_USAGE;
  }
  const url = io.env.DATABASE_URL?.trim();
  if (!url) {
    io.stderr.write(
      'Configuration error: DATABASE_URL is not set. `db` works on your PostgreSQL; the embedded database is created per process.\n',
    );
    return EXIT_USAGE;
  }
  let target: DatabaseTarget;
  try {
    target = resolveDatabaseTarget({ url, schemaSetting: io.env.DATABASE_SCHEMA });
  } catch (error) {
    if (!(error instanceof DatabaseConfigError)) throw error;
    io.stderr.write(`Configuration error: ${error.message}\n`);
    return EXIT_USAGE;
  }
  return run(target);
}

async function runMigrate(target: DatabaseTarget, json: boolean, io: DbCliIo): Promise<number> {
  try {
    const result = await migrate({ connectionString: target.connectionString, schema: target.schema });
    if (json) {
      const report = { schema: target.schema, applied: result.applied, alreadyApplied: result.skipped };
      io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      for (const name of result.applied) io.stdout.write(`applied ${name}\n`);
      io.stdout.write(
        `migrations (schema ${target.schema}): ${result.applied.length} applied, ${result.skipped.length} already applied\n`,
      );
    }
    return EXIT_OK;
  } catch (error) {
    if (json)
      io.stdout.write(
        `${JSON.stringify({ error: { code: 'migration_failed', message: messageOf(error) } }, null, 2)}\n`,
      );
    io.stderr.write(`db migrate failed: ${messageOf(error)}\n`);
    return EXIT_DB_FAILED;
  }
}

async function runStatus(target: DatabaseTarget, json: boolean, io: DbCliIo): Promise<number> {
  try {
    const status = await migrationStatus({
      connectionString: target.connectionString,
      schema: target.schema,
    });
    if (json) {
      io.stdout.write(`${JSON.stringify({ schema: target.schema, ...status }, null, 2)}\n`);
    } else {
      io.stdout.write(
        `Schema "${target.schema}": ${status.applied.length} applied, ${status.pending.length} pending\n`,
      );
      for (const name of status.applied) io.stdout.write(`  applied  ${name}\n`);
      for (const name of status.pending) io.stdout.write(`  pending  ${name}\n`);
    }
    return status.pending.length === 0 ? EXIT_OK : EXIT_DB_FAILED;
  } catch (error) {
    if (json)
      io.stdout.write(
        `${JSON.stringify({ error: { code: 'status_failed', message: messageOf(error) } }, null, 2)}\n`,
      );
    io.stderr.write(`db status failed: ${messageOf(error)}\n`);
    return EXIT_USAGE;
  }
}

import { migrate } from './migrate.js';
import { DatabaseConfigError, resolveDatabaseTarget } from './target.js';

// `npm run db:migrate`: applies pending migrations to DATABASE_URL, in the schema named by
// DATABASE_SCHEMA or the URL's `?schema=` (default public). Every failure is one line on stderr.
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

async function main(env: NodeJS.ProcessEnv): Promise<number> {
  const url = env.DATABASE_URL?.trim();
  if (!url) {
    console.error(
      'Configuration error: DATABASE_URL is not set. Example: DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test npm run db:migrate',
    );
    return EXIT_USAGE;
  }
  let target;
  try {
    target = resolveDatabaseTarget({ url, schemaSetting: env.DATABASE_SCHEMA });
  } catch (error) {
    if (!(error instanceof DatabaseConfigError)) throw error;
    console.error(`Configuration error: ${error.message}`);
    return EXIT_USAGE;
  }
  try {
    const result = await migrate({ ...target, log: (line) => console.log(line) });
    console.log(
      `migrations (schema ${target.schema}): ${result.applied.length} applied, ${result.skipped.length} already applied`,
    );
    return 0;
  } catch (error) {
    console.error(`Migration failed: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT_FAILED;
  }
}

process.exitCode = await main(process.env);

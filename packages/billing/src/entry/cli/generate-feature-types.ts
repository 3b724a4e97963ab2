import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { openDatabase, resolveDatabaseTarget, type Database } from '@packages/db';
import { loadFeatureCatalog } from '../../io/catalog/index.js';
import { renderFeatureTypes } from '../../io/catalog/declaration.js';
import { messageOf } from '../../core/errors.js';
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
 * `npm run generate-feature-types -- --out src/billing-features.d.ts`: writes the TypeScript
 * declaration of the database's feature catalog into the host project, so literal feature keys
 * are checked by the compiler. `--check` (for CI) writes nothing and exits 1 when the file is stale.
 */

export const EXIT_STALE = 1;

export interface GenerateFeatureTypesIo {
  stdout: Writer;
  stderr: Writer;
  env?: NodeJS.ProcessEnv;
  /** Use this (already migrated) database; it is left open. */
  database?: Database;
  cwd?: string;
}

interface Options {
  out: string;
  module: string;
  check: boolean;
}

function buildProgram(io: GenerateFeatureTypesIo): Command {
  return withIo(new Command('generate-feature-types'), io)
    .description(
      'Write the TypeScript declaration of the feature catalog (DATABASE_URL) for typed feature keys',
    )
    .addOption(new Option('--out <file>', 'the declaration file to write').default('billing-features.d.ts'))
    .addOption(
      new Option('--module <name>', 'the module name the project imports the library by').default(
        '@packages/billing',
      ),
    )
    .option('--check', 'write nothing; exit 1 when the file differs from the catalog', false);
}

export async function runGenerateFeatureTypes(
  argv: readonly string[],
  io: GenerateFeatureTypesIo,
): Promise<number> {
  const parsed = parseArguments<Options>(buildProgram(io), argv);
  if ('exitCode' in parsed) return parsed.exitCode;
  const { options } = parsed;
  const env = io.env ?? process.env;
  // `npm run` moves into the workspace; INIT_CWD is where the user ran it, which --out is relative to.
  const out = resolve(io.cwd ?? env.INIT_CWD ?? process.cwd(), options.out);

  let db = io.database;
  try {
    // The catalog of the schema the app's tables are in: DATABASE_SCHEMA (or the URL's ?schema=), as
    // every other command reads it; a URL passed on its own would open `public`.
    const url = env.DATABASE_URL?.trim() || undefined;
    const target = url ? resolveDatabaseTarget({ url, schemaSetting: env.DATABASE_SCHEMA }) : undefined;
    db ??= await openDatabase(
      target ? { databaseUrl: target.connectionString, schema: target.schema } : { databaseUrl: undefined },
    );
  } catch (error) {
    io.stderr.write(`Configuration error: ${messageOf(error)}\n`);
    return EXIT_USAGE;
  }
  try {
    const catalog = await loadFeatureCatalog(db.prisma);
    const text = renderFeatureTypes(catalog, { moduleName: options.module });
    if (options.check) {
      const current = await readFile(out, 'utf8').catch(() => null);
      if (current === text) {
        io.stdout.write(`${options.out} is up to date (${catalog.size} feature keys)\n`);
        return EXIT_OK;
      }
      io.stderr.write(
        `${options.out} is ${current === null ? 'missing' : 'stale'}; run generate-feature-types\n`,
      );
      return EXIT_STALE;
    }
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, text);
    io.stdout.write(`Wrote ${options.out}: ${catalog.size} feature keys\n`);
    return EXIT_OK;
  } catch (error) {
    io.stderr.write(`generate-feature-types failed: ${messageOf(error)}\n`);
    return EXIT_USAGE;
  } finally {
    if (!io.database) await db.close().catch(() => {});
  }
}

export async function runAsProcess(): Promise<void> {
  exitWhenDone(
    await runGenerateFeatureTypes(process.argv.slice(2), {
      stdout: process.stdout,
      stderr: process.stderr,
      env: process.env,
    }),
  );
}

if (isEntryPoint(import.meta.url)) await runAsProcess();

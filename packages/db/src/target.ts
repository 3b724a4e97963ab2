/**
 * Which PostgreSQL server and schema a process works in. Prisma's convention puts the schema in
 * the URL (`?schema=billing`); `DATABASE_SCHEMA` says the same for URLs that must stay valid for
 * psql and libpq (which refuse an unknown `schema` parameter). Both are honoured, and must agree.
 */

/** A lowercase SQL identifier: safe to quote into DDL and search_path without escaping. */
export const SCHEMA_NAME_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

export const DEFAULT_SCHEMA = 'public';

/** A database setting that cannot work; `variable` names the setting to fix. */
export class DatabaseConfigError extends Error {
  constructor(
    readonly variable: 'DATABASE_URL' | 'DATABASE_SCHEMA',
    message: string,
  ) {
    super(message);
    this.name = 'DatabaseConfigError';
  }
}

export interface DatabaseTarget {
  /** The URL without its `schema` parameter (pg would ignore it; psql would refuse it). */
  connectionString: string;
  schema: string;
}

/** Throws DatabaseConfigError naming `variable` unless `name` is a usable schema name. */
export function checkSchemaName(name: string, variable: 'DATABASE_URL' | 'DATABASE_SCHEMA'): string {
  if (!SCHEMA_NAME_PATTERN.test(name)) {
    const where = variable === 'DATABASE_URL' ? 'the schema parameter of DATABASE_URL' : 'DATABASE_SCHEMA';
    throw new DatabaseConfigError(
      variable,
      `${where} must be a lowercase SQL identifier (a-z, 0-9 and _, not starting with a digit, at most 63 characters), got ${JSON.stringify(name.slice(0, 80))}`,
    );
  }
  return name;
}

/**
 * Splits a PostgreSQL URL into the connection string and the schema it names, if any.
 * The URL's credentials never appear in an error message.
 */
export function parseDatabaseUrl(url: string): { connectionString: string; schema?: string } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DatabaseConfigError(
      'DATABASE_URL',
      'DATABASE_URL must be a postgresql:// URL, e.g. postgresql://user:password@host:5432/dbname',
    );
  }
  if (parsed.protocol !== 'postgresql:' && parsed.protocol !== 'postgres:') {
    throw new DatabaseConfigError(
      'DATABASE_URL',
      `DATABASE_URL must start with postgresql:// or postgres://, got ${parsed.protocol}//`,
    );
  }
  const schemas = parsed.searchParams.getAll('schema');
  if (schemas.length === 0) return { connectionString: url };
  if (schemas.length > 1)
    throw new DatabaseConfigError('DATABASE_URL', 'DATABASE_URL names more than one schema');
  const schema = checkSchemaName(schemas[0]!, 'DATABASE_URL');
  parsed.searchParams.delete('schema');
  return { connectionString: parsed.toString(), schema };
}

/**
 * The server and schema to use. An explicit `schema` (code that picks its own, like a test's
 * isolated schema) wins; otherwise the URL's `?schema=` and `DATABASE_SCHEMA` must not disagree.
 */
export function resolveDatabaseTarget(input: {
  url: string;
  schema?: string;
  schemaSetting?: string;
}): DatabaseTarget {
  const { connectionString, schema: fromUrl } = parseDatabaseUrl(input.url);
  if (input.schema !== undefined)
    return { connectionString, schema: checkSchemaName(input.schema, 'DATABASE_SCHEMA') };
  const setting = input.schemaSetting?.trim() || undefined;
  if (setting !== undefined) checkSchemaName(setting, 'DATABASE_SCHEMA');
  if (setting !== undefined && fromUrl !== undefined && setting !== fromUrl) {
    throw new DatabaseConfigError(
      'DATABASE_SCHEMA',
      `DATABASE_SCHEMA (${setting}) and the schema parameter of DATABASE_URL (${fromUrl}) disagree; set one of them`,
    );
  }
  return { connectionString, schema: setting ?? fromUrl ?? DEFAULT_SCHEMA };
}

/** Schema for a database with no URL (the embedded one): the explicit one, else the setting. */
export function resolveEmbeddedSchema(input: { schema?: string; schemaSetting?: string }): string {
  if (input.schema !== undefined) return checkSchemaName(input.schema, 'DATABASE_SCHEMA');
  const setting = input.schemaSetting?.trim() || undefined;
  return setting !== undefined ? checkSchemaName(setting, 'DATABASE_SCHEMA') : DEFAULT_SCHEMA;
}

import { migrate } from './migrate.js';

// `npm run db:migrate`: applies pending migrations to DATABASE_URL (schema from DATABASE_SCHEMA, default public).
const connectionString = process.env.DATABASE_URL;
if (!connectionString) {
  console.error(
    'DATABASE_URL is not set. Example: DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test npm run db:migrate',
  );
  process.exit(2);
}
const result = await migrate({
  connectionString,
  schema: process.env.DATABASE_SCHEMA ?? 'public',
  log: (line) => console.log(line),
});
console.log(`migrations: ${result.applied.length} applied, ${result.skipped.length} already applied`);

import { describe, expect, it } from 'vitest';
import { EMBEDDED_TEMPLATE_VARIABLE, migrate, startEmbeddedPostgres } from '@packages/db';
import pg from 'pg';

describe('embedded database from a template', () => {
  it('starts from the initialised data directory the test run wrote, empty and migratable', async () => {
    const templateFile = process.env[EMBEDDED_TEMPLATE_VARIABLE];
    expect(templateFile, 'vitest.global-setup.ts names the template').toBeTruthy();
    const embedded = await startEmbeddedPostgres({ templateFile });
    try {
      const client = new pg.Client({ connectionString: embedded.url });
      await client.connect();
      try {
        const tables = await client.query(
          "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
        );
        expect(tables.rows).toEqual([]);
      } finally {
        await client.end();
      }
      const result = await migrate({ connectionString: embedded.url });
      expect(result.applied.length).toBeGreaterThan(0);
    } finally {
      await embedded.close();
    }
  });

  it('a template file that cannot be read is an error naming the variable', async () => {
    await expect(startEmbeddedPostgres({ templateFile: '/nonexistent/initdb.tar' })).rejects.toThrow(
      /EMBEDDED_DATABASE_TEMPLATE names "\/nonexistent\/initdb.tar", which cannot be read/,
    );
  });
});

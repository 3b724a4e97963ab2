import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedPostgres {
  /** A postgres:// URL that any wire-protocol client (pg, Prisma's adapter) can use. */
  url: string;
  close(): Promise<void>;
}

/**
 * Starts PGlite (Postgres compiled to WASM) behind a wire-protocol socket on a free loopback port,
 * so the embedded default runs exactly the same code path (pg driver, Prisma adapter, SQL
 * migrations) as a real server. PGlite is single-session: clients must use a pool of one.
 */
export async function startEmbeddedPostgres(options: { dataDir?: string } = {}): Promise<EmbeddedPostgres> {
  const db = await PGlite.create(options.dataDir);
  // Our pool uses one connection at a time, but pg destroys a client after a failed pool.query() and
  // reconnects at once; with a limit of 1 the new connection can arrive before the server has seen
  // the old one close and is refused. A few slots absorb that overlap.
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 8 });
  await server.start();
  // getServerConn() reports "host:port" with the port the OS picked for port 0.
  const port = Number(server.getServerConn().split(':').pop());
  return {
    url: `postgresql://postgres:postgres@127.0.0.1:${port}/postgres?sslmode=disable`,
    async close() {
      await server.stop();
      await db.close();
    },
  };
}

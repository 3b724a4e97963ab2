import { readFile, rename, writeFile } from 'node:fs/promises';

// PGlite (Postgres in WASM, several MB of JavaScript) is loaded on first use, so a host that sets
// DATABASE_URL never loads it and importing the package stays light.
const loadPGlite = async () => (await import('@electric-sql/pglite')).PGlite;

export interface EmbeddedPostgres {
  /** A postgres:// URL that any wire-protocol client (pg, Prisma's adapter) can use. */
  url: string;
  close(): Promise<void>;
}

/**
 * Names a file written by writeEmbeddedTemplate: embedded databases then start from that freshly
 * initialised data directory instead of running initdb again (most of PGlite's start-up time).
 * The test suite sets it once per run; unset, every embedded database runs initdb as before.
 */
export const EMBEDDED_TEMPLATE_VARIABLE = 'EMBEDDED_DATABASE_TEMPLATE';

export interface StartEmbeddedOptions {
  dataDir?: string;
  /**
   * A data directory tarball from writeEmbeddedTemplate to start from. Default: the file named by
   * EMBEDDED_DATABASE_TEMPLATE, if set. Ignored with `dataDir` (a directory on disk has its own data).
   */
  templateFile?: string;
}

/**
 * Starts PGlite (Postgres compiled to WASM) behind a wire-protocol socket on a free loopback port,
 * so the embedded default runs exactly the same code path (pg driver, Prisma adapter, SQL
 * migrations) as a real server. PGlite is single-session: clients must use a pool of one.
 */
export async function startEmbeddedPostgres(options: StartEmbeddedOptions = {}): Promise<EmbeddedPostgres> {
  const templateFile =
    options.dataDir === undefined
      ? (options.templateFile ?? (process.env[EMBEDDED_TEMPLATE_VARIABLE]?.trim() || undefined))
      : undefined;
  const PGlite = await loadPGlite();
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const db = await PGlite.create(
    options.dataDir,
    templateFile ? { loadDataDir: await readTemplate(templateFile) } : undefined,
  );
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

/**
 * Writes the data directory of a freshly initialised embedded database (no tables of ours) to
 * `file`, for startEmbeddedPostgres to start from. Written to a temporary name first, so a reader
 * never sees half a file.
 */
export async function writeEmbeddedTemplate(file: string): Promise<void> {
  const PGlite = await loadPGlite();
  const db = await PGlite.create();
  try {
    const tarball = await db.dumpDataDir('none');
    const partial = `${file}.${process.pid}.partial`;
    await writeFile(partial, new Uint8Array(await tarball.arrayBuffer()));
    await rename(partial, file);
  } finally {
    await db.close();
  }
}

async function readTemplate(file: string): Promise<Blob> {
  try {
    return new Blob([await readFile(file)]);
  } catch (error) {
    throw new Error(
      `${EMBEDDED_TEMPLATE_VARIABLE} names ${JSON.stringify(file)}, which cannot be read: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of the real PostgreSQL that a test can freeze: while frozen it accepts new
 * connections and keeps every open one, but forwards nothing either way, as a stopped (SIGSTOP) or
 * partitioned server looks to its clients. Thawed, whatever was held is delivered and traffic flows.
 */
export interface FreezableProxy {
  /** DATABASE_URL with the proxy's host and port in place of the server's. */
  url: string;
  port: number;
  /**
   * Freezes every connection, or with `only` the open ones whose client has sent text it accepts
   * (the first 4 KB the client sent; e.g. a Redis connection that subscribed).
   */
  freeze(only?: (sent: string) => boolean): void;
  thaw(): void;
  close(): Promise<void>;
}

export async function startFreezableProxy(databaseUrl: string): Promise<FreezableProxy> {
  const target = new URL(databaseUrl);
  const targetPort = Number(target.port || 5432);
  let frozen = false;
  const pairs = new Set<[Socket, Socket]>();
  const sent = new WeakMap<Socket, string>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, target.hostname);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    sent.set(client, '');
    client.on('data', (chunk: Buffer) => {
      const so = sent.get(client) ?? '';
      if (so.length < 4096) sent.set(client, so + chunk.toString('latin1'));
    });
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
    if (frozen) {
      client.pause();
      upstream.pause();
    }
  });
  const port = await listen(server);
  const url = new URL(databaseUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.toString(),
    port,
    freeze(only) {
      frozen = !only;
      for (const [a, b] of pairs) {
        if (only && !only(sent.get(a) ?? '')) continue;
        // pipe() resumes a paused source on drain; unpiping first keeps the data where it is.
        a.unpipe(b);
        b.unpipe(a);
        a.pause();
        b.pause();
      }
    },
    thaw() {
      frozen = false;
      for (const [a, b] of pairs) {
        a.pipe(b);
        b.pipe(a);
        a.resume();
        b.resume();
      }
    },
    async close() {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A listener that accepts connections and never says a word: a PostgreSQL that is hung from the start. */
export async function startSilentListener(): Promise<{
  port: number;
  /** Connections accepted so far. */
  connections(): number;
  /** performance.now() of the first connection accepted, or undefined. */
  firstConnectionAt(): number | undefined;
  close(): Promise<void>;
}> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  let firstAt: number | undefined;
  const server = createServer((socket) => {
    accepted += 1;
    firstAt ??= performance.now();
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  const port = await listen(server);
  return {
    port,
    connections: () => accepted,
    firstConnectionAt: () => firstAt,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });
}

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

/**
 * `npm ci` warns EBADENGINE for every installed package whose `engines.node` excludes the running Node.
 * The README promises the root `engines.node`; every locked package must accept its lowest version,
 * so a fresh install on that Node prints no warning (the lockfile records each package's engines).
 */
const root = fileURLToPath(new URL('../../../../', import.meta.url));
const readJson = (name: string) =>
  JSON.parse(readFileSync(`${root}${name}`, 'utf8')) as Record<string, unknown>;

describe('install engines', () => {
  const promised = (readJson('package.json').engines as { node: string }).node;
  const lowest = semver.minVersion(promised)!.version;
  const packages = readJson('package-lock.json').packages as Record<
    string,
    { engines?: { node?: string } | string[]; optional?: boolean; dev?: boolean }
  >;

  it('every locked package accepts the lowest Node version the README and engines promise', () => {
    const refused = Object.entries(packages)
      .filter(([path, meta]) => {
        const range = !Array.isArray(meta.engines) ? meta.engines?.node : undefined;
        return path !== '' && range !== undefined && !semver.satisfies(lowest, range);
      })
      .map(
        ([path, meta]) =>
          `${path.replace(/^.*node_modules\//, '')} wants node ${(meta.engines as { node: string }).node}`,
      );
    expect(refused).toEqual([]);
  });

  it('the README promises the same Node version as engines', () => {
    const readme = readFileSync(`${root}README.md`, 'utf8');
    expect(readme).toContain(`Node.js ≥ ${promised.replace(/^>=\s*/, '')}`);
  });
});

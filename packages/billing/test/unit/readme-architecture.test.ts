import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: the lint configuration is plain JavaScript without declarations
import { LAYERS } from '../../../../eslint.config.js';

// The README's architecture tree names every folder of packages/billing/src (the layer folders and the
// folders inside them) and nothing that is not there, so a new folder (or a removed one) cannot leave
// the map behind.
const repo = new URL('../../../../', import.meta.url);

describe('README architecture tree', () => {
  it('lists exactly the folders of packages/billing/src', () => {
    const readme = readFileSync(new URL('README.md', repo), 'utf8');
    const section = readme.slice(readme.indexOf('## Architecture'));
    const tree = section.slice(
      section.indexOf('```') + 3,
      section.indexOf('```', section.indexOf('```') + 3),
    );
    const listed = [...tree.matchAll(/^\s+src\/((?:[a-z-]+\/)?[a-z-]+)\/\s/gm)].map((m) => m[1]!).sort();
    const src = fileURLToPath(new URL('packages/billing/src/', repo));
    const folders = readdirSync(src, { withFileTypes: true, recursive: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => relative(src, join(entry.parentPath, entry.name)))
      .filter((folder) => folder.split('/').length <= 2 && !folder.startsWith('core/'))
      .sort();
    expect(listed).toEqual(folders);
  });

  it("places every folder and file of src/ in exactly one layer, as the README's layer table says", () => {
    const layers = LAYERS as string[][];
    const entries = readdirSync(new URL('packages/billing/src/', repo), { withFileTypes: true })
      .filter((entry) => entry.isDirectory() || entry.name.endsWith('.ts'))
      .map((entry) => entry.name.replace(/\.ts$/, ''));
    const placed = layers.flat();
    // A new folder or file outside every layer would escape the lint boundary.
    expect([...new Set(placed)].sort()).toEqual([...new Set(entries)].sort());
    expect(placed).toHaveLength(new Set(placed).size);
    const readme = readFileSync(new URL('README.md', repo), 'utf8');
    const rows = [...readme.matchAll(/^\| (\d)\. [^|]+\| (.+) \|$/gm)].map((m) => ({
      layer: Number(m[1]),
      names: [...new Set([...m[2]!.matchAll(/`([a-z-]+)(?:\.ts)?`/g)].map((n) => n[1]!))].sort(),
    }));
    expect(rows.map((r) => r.layer)).toEqual([4, 3, 2, 1]);
    expect(rows.map((r) => r.names)).toEqual(layers.map((names) => [...names].sort()));
  });
});

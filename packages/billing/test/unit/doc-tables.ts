import { readFileSync } from 'node:fs';

/** A markdown file of packages/billing/docs, read once. */
export const readDoc = (name: string): string =>
  readFileSync(new URL(`../../docs/${name}`, import.meta.url), 'utf8');

/**
 * The rows of the first table in the section under `heading` (a line of the doc, e.g. `### Errors`), as trimmed
 * cells; the header and separator rows are left out. Throws when the heading or the table is missing,
 * so a renamed section fails the test that reads it instead of leaving it with no rows.
 */
export function tableAfter(doc: string, heading: string): string[][] {
  const start = doc.split('\n').indexOf(heading);
  if (start === -1) throw new Error(`no heading ${JSON.stringify(heading)}`);
  const lines = doc.split('\n').slice(start + 1);
  const first = lines.findIndex((line) => line.startsWith('|'));
  // The table must be in the heading's own section, not the next one's.
  const nextHeading = lines.findIndex((line) => line.startsWith('#'));
  if (first === -1 || (nextHeading !== -1 && nextHeading < first))
    throw new Error(`no table after ${JSON.stringify(heading)} in its section`);
  const end = lines.findIndex((line, i) => i > first && !line.startsWith('|'));
  return lines.slice(first + 2, end === -1 ? undefined : end).map((line) =>
    line
      .slice(1, line.lastIndexOf('|'))
      .split('|')
      .map((cell) => cell.trim()),
  );
}

/** The `code spans` of a cell, in order. */
export const codeSpans = (cell: string): string[] => [...cell.matchAll(/`([^`]*)`/g)].map((m) => m[1]!);

/** A documented message: its text, with `…` (and the space around it) standing for any run of characters. */
export function documentedText(text: string): RegExp {
  const parts = text.split(/\s*…\s*/).map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('.*')}$`, 's');
}

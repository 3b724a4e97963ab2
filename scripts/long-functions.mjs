#!/usr/bin/env node
// Lists every function in the packages' src/ trees longer than a limit (150 lines by default):
// declarations, arrow functions, function expressions, methods, accessors and constructors, each
// measured from its first line to its last, closures included (a factory that returns an object of
// closures counts as one function holding them all). Bound to the suite by
// packages/billing/test/unit/long-functions.test.ts; run it alone to see the list:
//
//   node scripts/long-functions.mjs [--limit 150] [--all]   (--all: every function, longest first)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const REPO_ROOT = resolve(import.meta.dirname, '..');
export const SOURCE_ROOTS = ['packages/billing/src', 'packages/stripe-emulator/src', 'packages/db/src'];
/** Generated code is not written by hand, so it is not held to the limit. */
const SKIPPED = ['packages/db/src/generated'];
export const LINE_LIMIT = 150;

function sourceFiles(dir) {
  if (SKIPPED.some((skip) => join(REPO_ROOT, skip) === dir)) return [];
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|tsx|mts|cts)$/.test(entry) && !entry.endsWith('.d.ts') ? [path] : [];
  });
}

/** What a reader would call the function: its own name, or the name it is bound to. */
function nameOf(node) {
  if (node.name && !ts.isComputedPropertyName(node.name)) return node.name.getText();
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent)) return parent.name.getText();
  if (ts.isPropertyDeclaration(parent)) return parent.name.getText();
  if (ts.isBinaryExpression(parent)) return parent.left.getText();
  if (ts.isExportAssignment(parent)) return 'default export';
  if (ts.isCallExpression(parent)) {
    const callee = parent.expression.getText().replace(/\s+/g, ' ');
    return `(callback of ${callee.length > 60 ? `…${callee.slice(-60)}` : callee})`;
  }
  return '(anonymous)';
}

/** Every function in `file` with its 1-based first line and its length in lines. */
export function functionsIn(file) {
  const text = readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found = [];
  const visit = (node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      found.push({
        name: nameOf(node),
        file: relative(REPO_ROOT, file),
        line: first + 1,
        lines: last - first + 1,
      });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** The functions over `limit` lines in the source roots, longest first. */
export function longFunctions({ limit = LINE_LIMIT, roots = SOURCE_ROOTS } = {}) {
  return roots
    .flatMap((root) => sourceFiles(resolve(REPO_ROOT, root)))
    .flatMap(functionsIn)
    .filter((fn) => fn.lines > limit)
    .sort((a, b) => b.lines - a.lines || a.file.localeCompare(b.file) || a.line - b.line);
}

export function describeFunction(fn) {
  return `${fn.name} (${fn.file}:${fn.line}) ${fn.lines} lines`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const limitAt = args.indexOf('--limit');
  const limit = args.includes('--all') ? 0 : limitAt >= 0 ? Number(args[limitAt + 1]) : LINE_LIMIT;
  const long = longFunctions({ limit });
  for (const fn of long) console.log(describeFunction(fn));
  if (!args.includes('--all')) {
    console.log(`${long.length} function(s) over ${limit} lines`);
    process.exitCode = long.length > 0 ? 1 : 0;
  }
}

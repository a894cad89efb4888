// Where the package's own files are (audits/, state/, sample/), from src/ (tests) or dist/ (CLI).
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** The package root: this file is src/paths.ts or dist/paths.js, one level below it. */
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const packagePath = (...parts: string[]): string => path.join(packageRoot, ...parts);

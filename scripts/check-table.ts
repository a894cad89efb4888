// Regenerates the README's table of checks from the headers of audits/*.sql: `npx tsx scripts/check-table.ts`
// (`--check`: exit 1 when the README differs, for CI; test/audit/check-files.test.ts asserts the same).
import { readFile, writeFile } from 'node:fs/promises';
import { loadChecks } from '../src/audit/check-definitions.js';
import { packagePath } from '../src/paths.js';
import { renderCheckTable, replaceCheckTable } from '../src/report/check-table.js';

const file = packagePath('README.md');
const readme = await readFile(file, 'utf8');
const updated = replaceCheckTable(readme, renderCheckTable(await loadChecks()));
if (process.argv.includes('--check')) {
  if (updated !== readme) {
    console.error('README.md: the table of checks differs from audits/*.sql; run `npx tsx scripts/check-table.ts`');
    process.exit(1);
  }
} else if (updated !== readme) {
  await writeFile(file, updated, 'utf8');
  console.log('README.md: table of checks regenerated');
} else {
  console.log('README.md: table of checks is up to date');
}

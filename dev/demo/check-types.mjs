// `make test`'s check of the web app's API types (npm run check in dev/demo):
// 1. functions/link-token/openapi.d.ts is what openapi-typescript generates from openapi.json today
//    (regenerate with `npm run api-types` in dev/demo after changing the document);
// 2. the demo page (app.js, checked as TypeScript through its JSDoc) uses the API as those types say.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const committed = '../../functions/link-token/openapi.d.ts';
const dir = mkdtempSync(join(tmpdir(), 'api-types-'));
try {
  const fresh = join(dir, 'openapi.d.ts');
  execFileSync('npx', ['--no-install', 'openapi-typescript', '../../functions/link-token/openapi.json', '--output', fresh],
    { stdio: ['ignore', 'ignore', 'inherit'] });
  if (readFileSync(fresh, 'utf8') !== readFileSync(committed, 'utf8')) {
    console.error(`FAIL  ${committed} is not what openapi.json generates: run \`npm run api-types\` in dev/demo and commit it`);
    process.exit(1);
  }
  console.log(`ok    ${committed} matches functions/link-token/openapi.json`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
execFileSync('npx', ['--no-install', 'tsc', '--project', 'jsconfig.json'], { stdio: 'inherit' });
console.log('ok    the demo page type-checks against the API types (tsc --checkJs)');

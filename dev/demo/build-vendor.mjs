// After the SDK bundle (npm run build): what else the page serves from vendor/, copied from node_modules so
// that nothing is fetched when the page runs.
//   vendor/web-link-sdk.d.ts   the SDK's own types for the bundle, for the type check (npm run check)
//   vendor/swagger-ui/         Swagger UI, which renders the link-token API's OpenAPI document at /api/
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';

writeFileSync('vendor/web-link-sdk.d.ts', "export { createLink } from '@meshconnect/web-link-sdk';\n");
mkdirSync('vendor/swagger-ui', { recursive: true });
for (const file of ['swagger-ui-bundle.js', 'swagger-ui.css', 'LICENSE']) {
  copyFileSync(`node_modules/swagger-ui-dist/${file}`, `vendor/swagger-ui/${file}`);
}

// Bundled at install time (npm run build → vendor/web-link-sdk.js) so the page loads the real SDK from
// this machine: the package ships ES modules with bare imports, which a browser cannot resolve alone.
export { createLink } from '@meshconnect/web-link-sdk';

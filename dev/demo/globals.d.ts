// What index.html hands app.js besides its imports.
interface Window {
  /** Written by serve.py per run (/config.js): where the link-token API is and what the customer picks from. */
  DEMO_CONFIG: {
    linkTokenApi: string;
    sandbox: string;
    destinations: { symbol: string; network: string }[];
  };
  /** Tells the Mesh SDK not to preload its iframe from web.meshconnect.com (the page works offline). */
  meshLinkShouldSkipPrewarm?: boolean;
}

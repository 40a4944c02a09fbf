// The dashboard's static files: control-plane/dashboard/ (plain HTML, CSS and ES modules, no build step)
// and cytoscape's own ES module build from node_modules, read once when the server starts and served
// from memory, so the page works offline and needs no CDN.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml',
};

export interface Asset {
  readonly type: string;
  readonly body: Buffer;
}

/** control-plane/dashboard, found from here whether running from src or dist. */
function dashboardDir(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const candidate = join(dir, 'control-plane', 'dashboard');
    if (existsSync(join(candidate, 'index.html'))) return candidate;
    if (dirname(dir) === dir) throw new Error(`control-plane/dashboard/index.html not found above ${fileURLToPath(import.meta.url)}`);
  }
}

/** URL path -> file: `/` is the page, `/dashboard/<file>` the rest. */
export function loadDashboardAssets(): ReadonlyMap<string, Asset> {
  const dir = dashboardDir();
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (type !== undefined) assets.set(`/dashboard/${name}`, { type, body: readFileSync(join(dir, name)) });
  }
  assets.set('/', assets.get('/dashboard/index.html')!);
  const cytoscape = fileURLToPath(import.meta.resolve('cytoscape/dist/cytoscape.esm.min.mjs'));
  assets.set('/dashboard/cytoscape.mjs', { type: TYPES['.mjs']!, body: readFileSync(cytoscape) });
  return assets;
}

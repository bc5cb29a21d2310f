/**
 * `@khutulun/dashboard-web` for Node: where the built dashboard is. The app itself (app/) is
 * built by Vite into dist/, which the agent serves.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The directory of the built dashboard (index.html and assets/). */
export const dashboardAssetsDir: string = join(
  dirname(dirname(fileURLToPath(import.meta.url))),
  'dist',
);

/** Whether the dashboard has been built (`npm run build`, or `npm run build:extra -w @khutulun/dashboard-web`). */
export function dashboardBuilt(): boolean {
  return existsSync(join(dashboardAssetsDir, 'index.html'));
}

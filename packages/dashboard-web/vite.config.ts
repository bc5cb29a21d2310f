import { defineConfig } from 'vite';

// Built into dist/ with relative asset URLs, so the agent can serve it under /dashboard/ (or
// any prefix) and nothing is loaded from another origin.
export default defineConfig({
  base: './',
  oxc: { jsx: { runtime: 'automatic' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
    sourcemap: false,
  },
});

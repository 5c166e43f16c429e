/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import tailwindcss from '@tailwindcss/vite';

// The Go server (internal/web) replaces this placeholder in index.html with a
// fresh nonce per response; Vite puts it on every tag it writes and on the
// <meta property="csp-nonce"> its preload helper reads.
const NONCE_PLACEHOLDER = '__CSP_NONCE__';

export default defineConfig({
  plugins: [react(), tailwindcss()],
  html: { cspNonce: NONCE_PLACEHOLDER },
  define: {
    __RELEASE__: JSON.stringify(process.env.CHORUS_RELEASE ?? 'dev'),
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2022',
    cssCodeSplit: true,
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: {
      '/api': 'http://127.0.0.1:8080',
      '/v1': 'http://127.0.0.1:8080',
    },
  },
  test: {
    environment: 'jsdom',
    globals: false,
    setupFiles: ['./src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    css: false,
    testTimeout: 30_000,
    coverage: {
      provider: 'v8',
      include: ['src/**/*.{ts,tsx}'],
      exclude: ['src/**/*.test.{ts,tsx}', 'src/test/**', 'src/main.tsx', 'src/vite-env.d.ts'],
      reporter: ['text-summary', 'text', 'html', 'json-summary'], // json-summary: read by scripts/coverage.sh
      thresholds: { lines: 80 }, // the floor; the suite sits near 98 %
    },
  },
});

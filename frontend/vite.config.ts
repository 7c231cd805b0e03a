/// <reference types="vitest/config" />
// Dev server and build of the clinic web app.
//   PORT=3000 npm run dev      serves http://democlinicalpha.localhost:3000 (any *.localhost host)
//   SOVA_API_PORT (8080)       where `sova api` listens; /api is proxied there
// The proxy keeps the page's Host header (changeOrigin: false): the API resolves the clinic
// from it, exactly as when `sova api` serves the built app itself.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const port = Number(process.env.PORT ?? 3000);
const apiTarget = `http://127.0.0.1:${process.env.SOVA_API_PORT ?? 8080}`;

const server = {
  host: process.env.HOST ?? '127.0.0.1',
  port,
  strictPort: true,
  allowedHosts: ['.localhost'],
  proxy: {
    '/api': { target: apiTarget, changeOrigin: false },
  },
};

export default defineConfig({
  plugins: [react()],
  server,
  preview: server,
  build: {
    outDir: 'dist',
    sourcemap: false,
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['./src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    testTimeout: 20_000,
  },
});

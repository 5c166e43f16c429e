import { rmSync } from 'node:fs';
import { loadState } from './state';

export default async function globalTeardown() {
  const s = loadState();
  try {
    process.kill(s.pid, 'SIGTERM');
  } catch {
    /* already gone */
  }
  await new Promise((r) => setTimeout(r, 500));
  if (!process.env.CHORUS_E2E_KEEP) rmSync(s.dataDir, { recursive: true, force: true });
}

import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { chat, SessionClient } from './client';
import { here, statePath, type State } from './state';
import { totp } from './totp';

const repo = join(here, '..', '..');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

async function waitReady(base: string, logFile: string) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`${base}/readyz`);
      if (r.ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`chorus did not become ready; its log:\n${readFileSync(logFile, 'utf8')}`);
}

const password = () => `E2e-${randomBytes(9).toString('base64url')}-pw`;

export default async function globalSetup() {
  if (!existsSync(join(repo, 'ui', 'dist', 'index.html'))) {
    throw new Error('ui/dist is not built: run `npm run build` in ui/ first (make test-ui does).');
  }
  let bin = process.env.CHORUS_E2E_BINARY ?? '';
  if (!bin) {
    bin = join(repo, 'bin', 'chorus-e2e');
    execFileSync('go', ['build', '-o', bin, './cmd/chorus'], { cwd: repo, stdio: 'inherit' });
  }
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'chorus-e2e-'));
  const out = join(dataDir, 'stdout.log');
  const err = join(dataDir, 'stderr.log');
  const child = spawn(bin, ['serve'], {
    cwd: dataDir,
    env: {
      ...process.env,
      CHORUS_LISTEN: `127.0.0.1:${port}`,
      CHORUS_DATA_DIR: dataDir,
      CHORUS_AUTH_STEP_UP_WINDOW: '30s',
      CHORUS_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', openSync(out, 'w'), openSync(err, 'w')],
    detached: true,
  });
  child.unref();
  if (!child.pid) throw new Error('chorus did not start');
  await waitReady(base, err);

  const banner = readFileSync(out, 'utf8');
  const adminPassword = /Password:\s+(\S+)/.exec(banner)?.[1];
  const adminKey = /API key:\s+(sk-chorus-\S+)/.exec(banner)?.[1];
  if (!adminPassword || !adminKey) throw new Error(`no bootstrap credentials in:\n${banner}`);

  // The admin puts credit packs on sale and invites two customers, each into a team of their own.
  const admin = new SessionClient(base);
  await admin.login('admin@chorus.local', adminPassword);
  const productName = 'Starter pack';
  await admin.call('POST', '/api/admin/products', { name: productName, description: '10 credits to try every model.', price: 1000, micro_credits: 10_000_000, active: true });
  await admin.call('POST', '/api/admin/products', { name: 'Team pack', description: '100 credits for a busy team.', price: 8000, micro_credits: 100_000_000, active: true });
  const invite = async () => (await admin.call<{ token: string }>('POST', '/api/admin/invites', {})).token;

  const customer = { email: 'ada@example.com', password: password(), name: 'Ada Lovelace' };
  const c = new SessionClient(base);
  const signed = await c.call<{ user: { team_id: number } }>('POST', '/api/auth/signup', { ...customer, invite_token: await invite() });
  const teamId = signed.user.team_id;
  await admin.reauth(adminPassword);
  await admin.call('POST', '/api/admin/credits/grant', { team_id: teamId, amount: 50_000_000, memo: 'Welcome credits', idempotency_key: `e2e-grant-${teamId}` });
  const key = await c.call<{ key: string }>('POST', '/api/keys', { name: 'backend' });
  for (let i = 0; i < 6; i++) {
    const status = await chat(base, key.key, i % 2 ? 'sim-large' : 'sim-small', `Hello number ${i}`);
    if (status !== 200) throw new Error(`chat: HTTP ${status}`);
  }

  const mfaCustomer = { email: 'grace@example.com', password: password(), name: 'Grace Hopper', secret: '' };
  const m = new SessionClient(base);
  await m.call('POST', '/api/auth/signup', { email: mfaCustomer.email, password: mfaCustomer.password, name: mfaCustomer.name, invite_token: await invite() });
  const enrol = await m.call<{ secret: string }>('POST', '/api/auth/mfa/enroll', {});
  mfaCustomer.secret = enrol.secret.replace(/\s/g, '');
  await m.call('POST', '/api/auth/mfa/enroll/confirm', { code: totp(mfaCustomer.secret) });

  const enrolCustomer = { email: 'alan@example.com', password: password() };
  await new SessionClient(base).call('POST', '/api/auth/signup', { ...enrolCustomer, name: 'Alan Turing', invite_token: await invite() });

  const state: State = {
    baseURL: base,
    pid: child.pid,
    dataDir,
    admin: { email: 'admin@chorus.local', password: adminPassword },
    adminKey,
    customer: { ...customer, teamId },
    mfaCustomer,
    enrolCustomer,
    inviteToken: await invite(),
    productName,
  };
  mkdirSync(dirname(statePath), { recursive: true });
  writeFileSync(statePath, JSON.stringify(state, null, 2));
  process.env.CHORUS_E2E_BASE_URL = base;
}

import { statSync } from 'node:fs';
import { join } from 'node:path';
import { here } from './state';
import { checkA11y, expect, noHorizontalScroll, shot, signIn, test } from './fixtures';
import { freshTotp } from './totp';

test('sign-in page: headers, nonce, accessibility', async ({ page, problems: _ }) => {
  const res = await page.goto('/signin');
  expect(res).not.toBeNull();
  const h = res?.headers() ?? {};
  const csp = h['content-security-policy'] ?? '';
  expect(csp).toContain("'strict-dynamic'");
  expect(csp).toContain("require-trusted-types-for 'script'");
  expect(csp).not.toContain('unsafe-inline');
  expect(h['x-content-type-options']).toBe('nosniff');
  expect(h['cache-control']).toBe('no-store');
  const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
  expect(nonce).toBeTruthy();
  // The page runs only because its scripts carry this response's nonce.
  await expect(page.getByRole('heading', { name: 'Sign in to Chorus' })).toBeVisible();
  const trustedTypes = await page.evaluate(() => typeof (window as unknown as { trustedTypes?: unknown }).trustedTypes);
  expect(trustedTypes).toBe('object');
  await checkA11y(page, 'sign-in');
  await shot(page, 'signin');
  await page.setViewportSize({ width: 375, height: 740 });
  await noHorizontalScroll(page);
  await shot(page, 'signin-375');
});

test('a wrong password is refused, the right one signs in, sign out', async ({ page, state, problems: _ }) => {
  await signIn(page, state.customer.email, 'not-the-password-at-all');
  await expect(page.getByRole('alert')).toContainText('Incorrect email or password');
  await page.getByLabel('Password').fill(state.customer.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/usage$/);
  await expect(page.getByRole('heading', { name: 'Usage', level: 1 })).toBeVisible();
  await page.getByRole('button', { name: /Account menu/ }).click();
  await page.getByRole('menuitem', { name: 'Sign out', exact: true }).click();
  await expect(page).toHaveURL(/\/signin/);
  await page.goto('/keys');
  await expect(page).toHaveURL(/\/signin\?next=%2Fkeys/);
});

test('an account with MFA is asked for its code', async ({ page, state, problems: _ }) => {
  await signIn(page, state.mfaCustomer.email, state.mfaCustomer.password);
  await expect(page.getByRole('heading', { name: 'Two-factor verification' })).toBeVisible();
  await checkA11y(page, 'mfa-challenge');
  await shot(page, 'signin-mfa');
  const { code } = await freshTotp(state.mfaCustomer.secret, Math.floor(Date.now() / 30_000));
  await page.getByLabel('Authentication code').fill(code);
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page).toHaveURL(/\/usage$/);
});

test('sign up with an invitation link', async ({ page, state, problems: _ }) => {
  await page.goto(`/signup#invite=${state.inviteToken}`);
  await expect(page.getByRole('heading', { name: 'Accept your invitation' })).toBeVisible();
  await checkA11y(page, 'signup');
  await shot(page, 'signup');
  await page.getByLabel('Email').fill('linus@example.com');
  await page.getByLabel('Name').fill('Linus Torvalds');
  await page.getByLabel('Password').fill('Penguins-Fly-2026!');
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page).toHaveURL(/\/usage$/);
  await page.getByRole('link', { name: 'Team' }).click();
  await expect(page.getByRole('cell', { name: 'linus@example.com' })).toBeVisible();
  // The invitation made them an owner: owners see each member's role as a selector.
  await expect(page.getByRole('combobox', { name: 'Role of linus@example.com' })).toHaveValue('owner');
});

test('the policy is enforced: no inline script, no HTML from strings', async ({ page }) => {
  await page.goto('/signin');
  await expect(page.getByRole('heading', { name: 'Sign in to Chorus' })).toBeVisible();
  const violations: string[] = [];
  page.on('console', (m) => violations.push(m.text()));
  const result = await page.evaluate(() => {
    const out: Record<string, string> = {};
    try {
      // eslint-disable-next-line no-restricted-syntax -- the point: the sink must refuse a string
      document.body.insertAdjacentHTML('beforeend', '<b>x</b>');
      out.html = 'allowed';
    } catch (e) {
      out.html = (e as Error).name;
    }
    const s = document.createElement('script');
    try {
      s.textContent = 'window.__injected = true';
      document.head.append(s);
      out.script = (window as unknown as { __injected?: boolean }).__injected ? 'ran' : 'blocked';
    } catch (e) {
      out.script = (e as Error).name;
    }
    return out;
  });
  // Trusted Types refuse a string where HTML or script is expected; the CSP would refuse the script anyway.
  expect(result.html).toBe('TypeError');
  expect(result.script).not.toBe('ran');
  await expect.poll(() => violations.some((v) => /TrustedHTML|TrustedScript|Content Security Policy/.test(v))).toBe(true);
});

test('the sign-in route loads at most 200 KB of JavaScript, gzipped', async ({ page }) => {
  const scripts = new Set<string>();
  page.on('response', (r) => {
    const u = new URL(r.url());
    if (u.pathname.endsWith('.js')) scripts.add(u.pathname);
  });
  await page.goto('/signin');
  await expect(page.getByRole('heading', { name: 'Sign in to Chorus' })).toBeVisible();
  await page.waitForLoadState('networkidle');
  let total = 0;
  for (const p of scripts) total += statSync(join(here, '..', 'dist', `${p}.gz`)).size;
  console.log(`sign-in JavaScript: ${scripts.size} files, ${(total / 1024).toFixed(1)} KB gzipped`);
  expect(total).toBeLessThanOrEqual(200 * 1024);
});

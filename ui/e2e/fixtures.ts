import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test as base, expect, type Page } from '@playwright/test';
import { loadState, screenshotDir, type State } from './state';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/** Problems the page reported: CSP and Trusted Types violations, uncaught errors, failed console errors. */
export interface PageProblems {
  messages: string[];
}

export const test = base.extend<{ state: State; problems: PageProblems }>({
  state: async ({}, use) => {
    await use(loadState());
  },
  baseURL: async ({}, use) => {
    await use(loadState().baseURL);
  },
  problems: async ({ page }, use) => {
    const p: PageProblems = { messages: [] };
    page.on('console', (msg) => {
      const t = msg.text();
      // A 4xx the page handles (a wrong password, an endpoint not there yet) logs a resource error; those are expected.
      if (msg.type() === 'error' && !/Failed to load resource: the server responded with a status of 4\d\d/.test(t)) p.messages.push(t);
    });
    page.on('pageerror', (e) => p.messages.push(`pageerror: ${e.message}`));
    await use(p);
    // Every page must run under the policy without a violation.
    expect(p.messages.filter((m) => /Content Security Policy|Trusted Type|TrustedHTML|TrustedScript|pageerror/i.test(m))).toEqual([]);
  },
});

export { expect };

/** checkA11y runs axe-core in the page (through the DevTools protocol, not a <script>: the CSP stays intact) and fails on serious or critical violations. */
export async function checkA11y(page: Page, label: string): Promise<AxeViolation[]> {
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: Document, opts: object) => Promise<{ violations: AxeViolation[] }> } }).axe;
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations;
  });
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const summary = violations.map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')})`);
  if (summary.length) console.log(`axe ${label}:\n  ${summary.join('\n  ')}`);
  expect(bad.map((v) => `${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`), `axe on ${label}`).toEqual([]);
  return violations;
}

/** shot saves a full-page screenshot under e2e/screenshots/. */
export async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: join(screenshotDir, `${name}.png`), fullPage: true });
}

/** noHorizontalScroll asserts the page fits its viewport's width. */
export async function noHorizontalScroll(page: Page): Promise<void> {
  const over = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(over, 'page scrolls horizontally').toBeLessThanOrEqual(0);
}

/** signIn signs in through the form. */
export async function signIn(page: Page, email: string, password: string): Promise<void> {
  await page.goto('/signin');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await Promise.all([page.waitForResponse((r) => r.url().endsWith('/api/auth/login')), page.getByRole('button', { name: 'Sign in' }).click()]);
}

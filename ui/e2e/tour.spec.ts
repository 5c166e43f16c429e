import { checkA11y, expect, noHorizontalScroll, shot, signIn, test } from './fixtures';

const pages = [
  { path: '/usage', heading: 'Usage' },
  { path: '/keys', heading: 'API keys' },
  { path: '/billing', heading: 'Billing' },
  { path: '/billing/buy', heading: 'Billing' },
  { path: '/billing/orders', heading: 'Billing' },
  { path: '/billing/budgets', heading: 'Billing' },
  { path: '/team', heading: 'Team' },
  { path: '/account', heading: 'Account' },
  { path: '/playground', heading: 'Playground' },
  { path: '/no/such/page', heading: 'Page not found' },
];

test('every page: loads, passes axe, fits 375 px, dark mode', async ({ page, state, problems: _ }) => {
  await signIn(page, state.customer.email, state.customer.password);
  await expect(page).toHaveURL(/\/usage$/);
  for (const p of pages) {
    await page.goto(p.path);
    await expect(page.getByRole('heading', { name: p.heading, level: 1 })).toBeVisible();
    await expect(page.getByRole('status').filter({ hasText: /Loading/ })).toHaveCount(0);
    const name = p.path.replace(/\//g, '_').replace(/^_/, '') || 'root';
    await shot(page, name);
    await checkA11y(page, p.path);
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.waitForTimeout(400); // let colour transitions finish
    await shot(page, `${name}-dark`);
    await checkA11y(page, `${p.path} (dark)`);
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 375, height: 800 });
    await page.waitForTimeout(400); // charts re-measure on their ResizeObserver's next frame; colors ease back from dark
    await noHorizontalScroll(page);
    await shot(page, `${name}-375`);
    await checkA11y(page, `${p.path} (375 px)`);
    await page.setViewportSize({ width: 1280, height: 800 });
  }
});

import { checkA11y, expect, shot, signIn, test } from './fixtures';

// The gateway does not take sessions on /v1 yet: the page must say so, not break.
test('the playground says when the server does not offer it yet', async ({ page, state, problems: _ }) => {
  await signIn(page, state.customer.email, state.customer.password);
  await page.goto('/playground');
  await page.getByLabel('Message').fill('Hello!');
  await page.getByRole('button', { name: 'Send' }).click();
  await expect(page.getByRole('heading', { name: 'Not available yet' })).toBeVisible();
  await checkA11y(page, 'playground unavailable');
  await shot(page, 'playground-unavailable');
});

import { createBrowserRouter, Navigate, type RouteObject } from 'react-router';
import { RouteError } from './RouteError';
import { Root } from './Root';
import { Loading } from '../components/States';

// Each page is its own chunk, loaded when its route is first visited.
const page = (load: () => Promise<{ default: React.ComponentType }>) => async () => ({ Component: (await load()).default });

export const routes: RouteObject[] = [
  {
    element: <Root />,
    errorElement: <RouteError />,
    hydrateFallbackElement: <Loading label="Loading the console…" />,
    children: [
      { path: '/signin', lazy: page(() => import('../features/auth/SignInPage')), errorElement: <RouteError /> },
      { path: '/signup', lazy: page(() => import('../features/auth/SignUpPage')), errorElement: <RouteError /> },
      {
        path: '/',
        lazy: page(() => import('./AppShell')),
        errorElement: <RouteError />,
        children: [
          { index: true, element: <Navigate to="/usage" replace /> },
          { path: 'usage', lazy: page(() => import('../features/usage/UsagePage')), errorElement: <RouteError /> },
          { path: 'keys', lazy: page(() => import('../features/keys/KeysPage')), errorElement: <RouteError /> },
          {
            path: 'billing',
            lazy: page(() => import('../features/billing/BillingLayout')),
            errorElement: <RouteError />,
            children: [
              { index: true, lazy: page(() => import('../features/billing/OverviewPage')), errorElement: <RouteError /> },
              { path: 'buy', lazy: page(() => import('../features/billing/BuyPage')), errorElement: <RouteError /> },
              { path: 'orders', lazy: page(() => import('../features/billing/OrdersPage')), errorElement: <RouteError /> },
              { path: 'orders/:id', lazy: page(() => import('../features/billing/OrderPage')), errorElement: <RouteError /> },
              { path: 'budgets', lazy: page(() => import('../features/billing/BudgetsPage')), errorElement: <RouteError /> },
            ],
          },
          { path: 'team', lazy: page(() => import('../features/team/TeamPage')), errorElement: <RouteError /> },
          { path: 'account', lazy: page(() => import('../features/account/AccountPage')), errorElement: <RouteError /> },
          { path: 'playground', lazy: page(() => import('../features/playground/PlaygroundPage')), errorElement: <RouteError /> },
          { path: '*', lazy: page(() => import('./NotFound')), errorElement: <RouteError /> },
        ],
      },
    ],
  },
];

export function newRouter() {
  return createBrowserRouter(routes);
}

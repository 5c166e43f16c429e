import { NavLink, Outlet } from 'react-router';
import { PageHeader } from '../../components/Page';

const tabs = [
  { to: '/billing', label: 'Overview', end: true },
  { to: '/billing/buy', label: 'Buy credits' },
  { to: '/billing/orders', label: 'Orders' },
  { to: '/billing/budgets', label: 'Budgets' },
];

/** BillingLayout: the billing pages under one heading, with their own navigation. */
export default function BillingLayout() {
  return (
    <div>
      <PageHeader title="Billing" description="Your team's prepaid credits: balance, purchases, orders and budgets." />
      <nav aria-label="Billing" className="mb-6 border-b border-gray-200 dark:border-gray-800">
        <ul className="-mb-px flex flex-wrap gap-x-4">
          {tabs.map((t) => (
            <li key={t.to}>
              <NavLink
                to={t.to}
                end={t.end}
                className={({ isActive }) =>
                  `inline-block border-b-2 px-1 py-2 text-sm font-medium ${isActive ? 'border-indigo-600 text-indigo-700 dark:text-indigo-300' : 'border-transparent text-gray-600 hover:border-gray-300 hover:text-gray-900 dark:text-gray-300 dark:hover:text-gray-100'}`
                }
              >
                {t.label}
              </NavLink>
            </li>
          ))}
        </ul>
      </nav>
      <Outlet />
    </div>
  );
}

import { Link } from 'react-router';
import { PageHeader } from '../components/Page';

export default function NotFound() {
  return (
    <div>
      <PageHeader title="Page not found" description="There is nothing at this address." />
      <Link className="font-semibold text-indigo-700 hover:underline dark:text-indigo-300" to="/">
        Go to the home page
      </Link>
    </div>
  );
}
